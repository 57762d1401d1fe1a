"""External data is never read by a static lint, and unsafe locations are never opened."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint.engine import Linter, ModelReport
from archlint.loader import load_proto
from archlint.registry import load_rules

from .conftest import FIXTURES, run_archlint

sys.path.insert(0, str(FIXTURES))
import onnx
from make_binary_fixtures import lstm_with_external_w

_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _RECORDING[0] and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))  # type: ignore[arg-type]


sys.addaudithook(_audit)  # audit hooks cannot be removed, so one hook records on demand


@pytest.fixture
def opened_paths() -> Iterator[list[str]]:
    """Paths opened by this process during lint_recorded() calls (sys.audit 'open' events)."""
    _OPENED.clear()
    yield _OPENED
    _OPENED.clear()


def lint_recorded(path: Path) -> ModelReport:
    _RECORDING[0] = True
    try:
        return Linter(load_rules().rules).lint_file(path)
    finally:
        _RECORDING[0] = False


def _lint(path: Path) -> list[tuple[str, str | None]]:
    report = lint_recorded(path)
    assert report.error is None, report.error
    return [(f.code, f.actual) for f in report.findings]


def test_lint_never_opens_a_big_tensors_data_file(tmp_path: Path, opened_paths: list[str]) -> None:
    """W and R (4800 and 6400 elements, over SMALL_TENSOR_ELEMENTS) are never read; B (320
    elements) is, from its own file: one tensor per file, as onnx writes them."""
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    model = _lstm(hidden=40, features=30)
    onnx.save_model(model, model_dir / "model.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=False, size_threshold=0)
    assert sorted(p.name for p in model_dir.iterdir()) == ["B", "R", "W", "model.onnx"]
    assert _lint(model_dir / "model.onnx") == []
    opened = {Path(p).name for p in opened_paths if Path(p).parent == model_dir}
    assert opened == {"model.onnx", "B"}


def _lstm(hidden: int, features: int) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    weights = {"W": (1, 4 * hidden, features), "R": (1, 4 * hidden, hidden), "B": (1, 8 * hidden)}
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm_0", hidden_size=hidden)],
        "external", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", 1, features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["seq", 1, 1, hidden])],
        initializer=[numpy_helper.from_array(rng.uniform(-1, 1, dims).astype(np.float32), name)
                     for name, dims in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# a GRU written out as steps (Keras 3's torch backend through torch.onnx): its per-step
# Gather indices are what the cell search reads
_UNROLLED = FIXTURES / "keras3_torch" / "gru_static.onnx"


def _saved_with_every_tensor_external(source: Path, folder: Path) -> Path:
    folder.mkdir()
    path = folder / source.name
    onnx.save_model(onnx.load(source), path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="data.bin", size_threshold=0)
    return path


def test_small_constants_in_external_data_are_read(tmp_path: Path) -> None:
    """Saved with size_threshold=0, the unrolled GRU is still found and counted as inline:
    the small constants it is recognised by are read from the data file."""
    external = _saved_with_every_tensor_external(_UNROLLED, tmp_path / "m")
    proto = onnx.load(external, load_external_data=False)
    indices = [t for t in proto.graph.initializer if t.data_type == TensorProto.INT64]
    assert indices and all(t.data_location == TensorProto.EXTERNAL for t in indices)
    inline, outside = (json.loads(run_archlint("lint", str(p), "--format", "json",
                                               "--exit-zero").stdout)["models"][0]
                       for p in (_UNROLLED, external))
    assert (outside["recurrent_layers"], outside["unchecked_layers"]) == (1, 1)
    assert [(f["code"], f["location"]["node"]) for f in outside["findings"]] == \
        [(f["code"], f["location"]["node"]) for f in inline["findings"]]
    inline_totals, outside_totals = (json.loads(run_archlint(
        "params", str(p), "--format", "json").stdout)["models"][0]["totals"]
        for p in (_UNROLLED, external))
    assert outside_totals == inline_totals


def test_reading_small_external_tensors_changes_no_model(tmp_path: Path) -> None:
    """The values go into archlint's copy: a ModelProto handed to the API keeps its
    external-data entries, and the files keep their bytes."""
    external = _saved_with_every_tensor_external(_UNROLLED, tmp_path / "m")
    before = {p.name: p.read_bytes() for p in external.parent.iterdir()}
    proto = onnx.load(external, load_external_data=False)
    kept = proto.SerializeToString()
    loaded = load_proto(proto, external.name, external)
    assert proto.SerializeToString() == kept
    assert not any(t.data_location == TensorProto.EXTERNAL and len(t.dims) <= 1
                   for t in loaded.proto.graph.initializer)
    assert {p.name: p.read_bytes() for p in external.parent.iterdir()} == before


def test_a_tensor_whose_length_disagrees_with_its_dims_is_not_read(tmp_path: Path) -> None:
    """External-data entries a runtime would refuse leave the tensor external."""
    external = _saved_with_every_tensor_external(_UNROLLED, tmp_path / "m")
    proto = onnx.load(external, load_external_data=False)
    index = next(t for t in proto.graph.initializer if t.data_type == TensorProto.INT64)
    for entry in index.external_data:
        if entry.key == "length":
            entry.value = str(int(entry.value) + 8)
    loaded = load_proto(proto, external.name, external)
    [kept] = [t for t in loaded.proto.graph.initializer if t.name == index.name]
    assert kept.data_location == TensorProto.EXTERNAL


def test_unreadable_data_file_still_lints(tmp_path: Path) -> None:
    """The data file is a FIFO with no writer: any read would block until the timeout. It is
    never opened, and a FIFO is no data file: AL002 says so (issue 18), judged by stat."""
    onnx.save_model(lstm_with_external_w("w.bin", None), tmp_path / "model.onnx")
    os.mkfifo(tmp_path / "w.bin")
    proc = run_archlint("lint", str(tmp_path / "model.onnx"), timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == (
        f"{tmp_path / 'model.onnx'}: AL002 error: initializer 'W' has external-data location "
        "'w.bin': location names a FIFO, device or socket, not a data file; archlint did not "
        "open it")


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("../../etc/passwd", "location contains '..'"),
        ("/etc/passwd", "absolute location"),
        ("sub/../../outside.bin", "location contains '..'"),
    ],
)
def test_escaping_location_is_a_finding_and_never_opened(
    tmp_path: Path, opened_paths: list[str], location: str, problem: str
) -> None:
    onnx.save_model(lstm_with_external_w(location, None), tmp_path / "model.onnx")
    report = lint_recorded(tmp_path / "model.onnx")
    [finding] = report.findings
    assert (finding.code, finding.actual, finding.location.tensor) == ("AL002", location, "W")
    assert problem in finding.message
    assert not [p for p in opened_paths if "passwd" in p or "outside" in p]


def test_symlink_escaping_the_folder_is_refused(tmp_path: Path, opened_paths: list[str]) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 192)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").symlink_to(outside)
    onnx.save_model(lstm_with_external_w("w.bin", None), model_dir / "model.onnx")
    report = lint_recorded(model_dir / "model.onnx")
    [finding] = report.findings
    assert finding.code == "AL002"
    assert "resolves outside the model's folder" in finding.message
    assert not [p for p in opened_paths if p.endswith(("secret.bin", "w.bin"))]


def test_special_file_location_is_not_read(tmp_path: Path) -> None:
    """A symlink to /dev/zero inside the folder: resolves outside, refused, never read."""
    (tmp_path / "w.bin").symlink_to("/dev/zero")
    onnx.save_model(lstm_with_external_w("w.bin", None), tmp_path / "model.onnx")
    proc = run_archlint("lint", str(tmp_path / "model.onnx"), timeout=60)
    assert proc.returncode == 1
    assert "AL002 error" in proc.stdout


def test_lint_does_not_write_next_to_the_model(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "AL002", tmp_path / "m")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "m").iterdir()}
    run_archlint("lint", str(tmp_path / "m"))
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "m").iterdir()}
    assert before == after
