"""onnx's message classes without the onnx package (archlint/onnx_protos.py), as the console
script loads them: one set of classes whichever way onnx is imported after, and the same
findings as a process that imported onnx first."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from onnx import helper

from archlint.onnx_protos import tensor_value_info

from .conftest import ARCHLINT, FIXTURES, REPO, invoke


def _fresh(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; what it prints last, read as JSON."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True, timeout=120)
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_standalone_classes_are_the_ones_the_onnx_package_imports_later() -> None:
    seen = _fresh(f"""
import json, sys
from archlint import onnx_protos
onnx_protos.prefer_standalone()
model_class = onnx_protos.ModelProto
version = onnx_protos.onnx_version()
before = sorted(m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "numpy")))
import onnx
from onnx import numpy_helper, onnx_data_pb2
model = onnx.load({str(FIXTURES / "exported" / "lstm_l1_uni_sf_h0.onnx")!r})
print(json.dumps({{
    "before": before,
    "same_class": onnx.ModelProto is model_class and isinstance(model, model_class),
    "attribute": onnx.onnx_ml_pb2 is sys.modules["onnx.onnx_ml_pb2"],
    "version": [version, onnx.__version__],
    "value": numpy_helper.to_array(model.graph.initializer[0]).shape == tuple(
        model.graph.initializer[0].dims),
    "finder_left": [type(f).__name__ for f in sys.meta_path if "Attach" in type(f).__name__],
}}))
""")
    assert seen["before"] == ["onnx.onnx_ml_pb2"]
    assert seen["same_class"] is True
    assert seen["attribute"] is True
    version, package_version = seen["version"]  # type: ignore[misc]
    assert version == package_version
    assert seen["value"] is True
    assert seen["finder_left"] == []


def test_a_lookup_that_imports_nothing_does_not_use_up_the_attachment() -> None:
    """archlint/inference.py asks where onnx is (find_spec) each time it starts a worker,
    before anything imports onnx: the package imported after still gets its attribute."""
    seen = _fresh("""
import importlib.util, json, sys
from archlint import onnx_protos
from archlint.inference import _command
onnx_protos.prefer_standalone()
onnx_protos.ModelProto
_command()
importlib.util.find_spec("onnx")
still = "onnx" not in sys.modules
import onnx
print(json.dumps({"not imported by the lookups": still,
                  "attribute": onnx.onnx_ml_pb2 is sys.modules["onnx.onnx_ml_pb2"],
                  "finder_left": [type(f).__name__ for f in sys.meta_path
                                  if "Attach" in type(f).__name__]}))
""")
    assert seen == {"not imported by the lookups": True, "attribute": True, "finder_left": []}


def test_without_the_console_script_the_classes_come_from_the_onnx_package() -> None:
    """The Python API and the pytest plugin run in the user's process: there archlint imports
    onnx as the user would."""
    seen = _fresh("""
import json, sys
from archlint import onnx_protos
model_class = onnx_protos.ModelProto
import onnx
print(json.dumps({"imported": "onnx" in sys.modules and "numpy" in sys.modules,
                  "same_class": onnx.ModelProto is model_class}))
""")
    assert seen == {"imported": True, "same_class": True}


def test_the_console_script_finds_what_an_in_process_lint_finds() -> None:
    """The committed binary models (PyTorch's two exporters, tf2onnx, TFLite, paddle2onnx,
    Keras 3 with its torch and jax backends, onnxruntime's quantizer and optimizer, onnxslim,
    float16), linted by ``python -m archlint`` (classes loaded standalone, the onnx package
    imported only when a value is decoded) and in this process (onnx imported by the tests):
    the same report, finding for finding."""
    folders = [FIXTURES / name for name in (
        "exported", "exported_defects", "exported_fixes", "exported_states", "dynamo_rnn",
        "keras", "keras3_torch", "keras3_jax", "keras_params", "tf1_rnn", "tf1_scan",
        "tf1_cells", "tflite", "paddle", "converted", "torch_custom", "torch_functions",
        "steps", "stacked_cells", "conv_lstm", "quantized", "quantized_ops",
        "dynamic_quantized", "qdq", "qoperator", "matmul_nbits", "ort_optimized", "slimmed",
        "float16", "simplified")]
    args = ["lint", *map(str, folders), "--format", "json", "--exit-zero",
            "--no-respect-gitignore"]
    proc = subprocess.run([*ARCHLINT, *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    in_process = invoke(*args)
    assert in_process.exit_code == 0, in_process.output

    def comparable(text: str) -> list[tuple[str, list[dict[str, object]]]]:
        models = json.loads(text)["models"]
        assert len(models) > 200
        return [(m["path"], m["findings"]) for m in models]

    assert comparable(proc.stdout) == comparable(in_process.stdout)


def test_the_console_script_counts_and_runs_as_an_in_process_call_does() -> None:
    """params (whose modules import numpy and the onnx package: after the classes were
    loaded standalone) and run (onnxruntime in its child, the reference evaluator here)."""
    models = [str(FIXTURES / "exported" / "lstm_4_2.onnx"),
              str(FIXTURES / "keras" / "k2_bidir_gru.onnx"),
              str(FIXTURES / "quantized" / "lstm_bi_s8_per_channel.onnx")]
    for args, key in ((["params", *models, "--format", "json"], "models"),
                      (["run", models[0], "--format", "json", "--exit-zero"], "models")):
        proc = subprocess.run([*ARCHLINT, *args], cwd=REPO, capture_output=True, text=True,
                              check=False, timeout=300)
        assert proc.returncode == 0, proc.stderr
        in_process = invoke(*args)
        assert in_process.exit_code == 0, in_process.output
        ours, theirs = json.loads(proc.stdout)[key], json.loads(in_process.stdout)[key]
        assert len(ours) == len(theirs) >= 1
        for mine, other in zip(ours, theirs, strict=True):
            assert {k: v for k, v in mine.items() if k not in ("runtime", "elapsed_s")} \
                == {k: v for k, v in other.items() if k not in ("runtime", "elapsed_s")}


@pytest.mark.parametrize(("dtype", "shape"), [
    (1, None), (1, []), (7, [3]), (10, ["N", None, 4]), (0, [0, 1]),
], ids=str)
def test_tensor_value_info_is_onnx_helpers_message(dtype: int, shape: list[object] | None) -> None:
    assert tensor_value_info("x", dtype, shape).SerializeToString() \
        == helper.make_tensor_value_info("x", dtype, shape).SerializeToString()


@pytest.mark.parametrize("bad", [[1.5], [b"N"]], ids=str)
def test_tensor_value_info_refuses_what_onnx_helper_refuses(bad: list[object]) -> None:
    with pytest.raises(ValueError):
        helper.make_tensor_value_info("x", 1, bad)
    with pytest.raises(ValueError):
        tensor_value_info("x", 1, bad)  # type: ignore[arg-type]
