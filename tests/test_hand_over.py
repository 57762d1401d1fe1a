"""The first model the command line names goes to shape inference before the modules that
read it are imported (archlint.inference.hand_over); the loader takes that inference only for
the very bytes it reads from that file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint import inference, loader
from tests.conftest import run_archlint


def _big_lstm(hidden: int, extra: str | None = None) -> onnx.ModelProto:
    """An LSTM on I=256 whose weights pass EARLY_INFERENCE_BYTES; ``extra``: a Relu after it,
    so which model was inferred shows in the inferred value_info."""
    i = 256
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, i), np.float32), "W")
    r = numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden), np.float32), "R")
    nodes = [helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="lstm", hidden_size=hidden)]
    last = "Y"
    if extra is not None:
        nodes.append(helper.make_node("Relu", ["Y"], [extra], name="relu"))
        last = extra
    graph = helper.make_graph(
        nodes, "big",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", i])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], initializer=[w, r])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def no_hand_over() -> Iterator[None]:
    inference.close_worker()
    yield
    inference.close_worker()
    assert inference._HANDED_OVER == []


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save_model(model, path)
    assert path.stat().st_size >= inference.EARLY_INFERENCE_BYTES
    return path


def _declared(model: loader.LoadedModel) -> set[str]:
    return {vi.name for vi in model.inferred.graph.value_info}


def test_the_loader_takes_the_handed_over_inference_of_the_same_file(
    tmp_path: Path, no_hand_over: None,
) -> None:
    path = _save(_big_lstm(256, extra="relu_out"), tmp_path / "big.onnx")
    inference.hand_over(str(path))
    handed = inference._HANDED_OVER[0].pending
    model = loader.load_model(path)
    assert model.shapes._source is handed  # not a second inference
    assert inference._HANDED_OVER == []
    assert "Y" in _declared(model) and model.inference_error is None


def test_a_file_rewritten_after_the_hand_over_is_inferred_anew(
    tmp_path: Path, no_hand_over: None,
) -> None:
    path = _save(_big_lstm(256), tmp_path / "big.onnx")
    inference.hand_over(str(path))
    handed = inference._HANDED_OVER[0].pending
    _save(_big_lstm(256, extra="added_later"), path)  # same path, other bytes
    model = loader.load_model(path)
    assert model.shapes._source is not handed
    assert "Y" in _declared(model)  # the Relu's input: inferred from the new bytes
    assert model.proto.graph.output[0].name == "added_later"


def test_another_model_read_first_cancels_the_hand_over(
    tmp_path: Path, no_hand_over: None,
) -> None:
    first = _save(_big_lstm(256), tmp_path / "first.onnx")
    other = _save(_big_lstm(256, extra="other_out"), tmp_path / "other.onnx")
    inference.hand_over(str(first))
    handed = inference._HANDED_OVER[0].pending
    model = loader.load_model(other)
    assert inference._HANDED_OVER == [] and handed.outcome().inferred is None  # cancelled
    assert model.inference_error is None and model.proto.graph.output[0].name == "other_out"


@pytest.mark.parametrize("name", ["small.onnx", "big.onnx.txt", "folder.onnx", "missing.onnx"])
def test_only_a_big_binary_onnx_file_is_handed_over(
    name: str, tmp_path: Path, no_hand_over: None,
) -> None:
    path = tmp_path / name
    if name == "small.onnx":
        onnx.save_model(_big_lstm(2), path)
        assert path.stat().st_size < inference.EARLY_INFERENCE_BYTES
    elif name == "big.onnx.txt":
        path.write_bytes(b"#" * inference.EARLY_INFERENCE_BYTES)
    elif name == "folder.onnx":
        path.mkdir()
    inference.hand_over(str(path))
    assert inference._HANDED_OVER == []


def test_lint_of_a_big_model_from_the_command_line(tmp_path: Path) -> None:
    model = _big_lstm(256)
    model.graph.node[0].attribute[0].i = 257  # hidden_size 257 against weights of H=256
    path = _save(model, tmp_path / "big.onnx")
    proc = run_archlint("lint", "--select", "AL201", "--format", "json", "-q", str(path))
    assert proc.returncode == 1, proc.stderr
    assert '"code": "AL201"' in proc.stdout and '"node": "lstm"' in proc.stdout


def test_a_parallel_lint_closes_the_handed_over_inference(tmp_path: Path) -> None:
    # -j: the pool's workers infer for themselves; the hand-over of the parent's worker is
    # closed with it, and each model still gets its own findings
    paths = []
    for name, hidden in (("a.onnx", 257), ("b.onnx", 256)):
        model = _big_lstm(256)
        model.graph.node[0].attribute[0].i = hidden
        paths.append(str(_save(model, tmp_path / name)))
    proc = run_archlint("lint", "-j", "2", "--select", "AL201", "--format", "json", "-q", *paths)
    assert proc.returncode == 1, proc.stderr
    models = {m["path"]: m for m in json.loads(proc.stdout)["models"]}
    assert [f["code"] for f in models[paths[0]]["findings"]][:1] == ["AL201"]
    assert models[paths[1]]["findings"] == []


def test_a_handed_over_model_the_loader_refuses_stops_its_inference(tmp_path: Path) -> None:
    # functions that expand without end: handed over before the loader could look, then
    # refused by it; the worker busy inferring it is killed, so the lint ends at once
    from tests.test_hostile_input import _nested_functions

    model = _nested_functions(40)
    model.graph.initializer.append(
        numpy_helper.from_array(np.zeros(300_000, np.float32), "ballast"))
    path = _save(model, tmp_path / "bomb.onnx")
    proc = run_archlint("lint", str(path), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"archlint: error: {path}: not analysed: model-local functions "
                           "expand to more than 100,000 nodes when inlined (calls nested in "
                           "calls)\n")
