"""archlint/tensor_values.py reads a tensor as ``onnx.numpy_helper.to_array`` does: the same
element type, shape and values, for every element type, stored raw or in typed fields, and for
every tensor of the committed models and of onnx's own backend test cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint.graph import TensorInfo, build_graph
from archlint.loader import LoadError, load_model
from archlint.tensor_values import element_type, plain_ints, to_array

from .conftest import FIXTURES

# every element type onnx defines, with values of it (what make_tensor takes)
_SAMPLES: dict[int, list[object]] = {
    TensorProto.FLOAT: [1.5, -2.0, 0.0, float("nan")],
    TensorProto.DOUBLE: [1.5, -2.0, 1e300, 0.0],
    TensorProto.FLOAT16: [1.5, -2.0, 0.0, 65504.0],
    TensorProto.BFLOAT16: [1.5, -2.0, 0.0, 3.0],
    TensorProto.INT8: [-128, 127, 0, -1],
    TensorProto.UINT8: [0, 255, 7, 1],
    TensorProto.INT16: [-32768, 32767, 0, -1],
    TensorProto.UINT16: [0, 65535, 7, 1],
    TensorProto.INT32: [-(2**31), 2**31 - 1, 0, -1],
    TensorProto.UINT32: [0, 2**32 - 1, 7, 1],
    TensorProto.INT64: [-(2**63), 2**63 - 1, 0, -1],
    TensorProto.UINT64: [0, 2**64 - 1, 7, 1],
    TensorProto.BOOL: [True, False, True, True],
    TensorProto.STRING: [b"a", b"bc", b"", b"d"],
    TensorProto.INT4: [-8, 7, 0, -1],
    TensorProto.UINT4: [0, 15, 7, 1],
    TensorProto.FLOAT8E4M3FN: [1.5, -2.0, 0.0, 448.0],
    TensorProto.FLOAT8E5M2: [1.5, -2.0, 0.0, 4.0],
}


def _same(tensor: TensorProto) -> None:
    expected = numpy_helper.to_array(tensor)
    found = to_array(tensor)
    assert found.dtype == expected.dtype, tensor.name
    assert found.shape == expected.shape, tensor.name
    if expected.dtype.kind in "fc":
        assert np.array_equal(found, expected, equal_nan=True), tensor.name
    else:
        assert np.array_equal(found, expected), tensor.name


@pytest.mark.parametrize(("kind", "raw"), [
    (kind, raw) for kind in sorted(_SAMPLES) for raw in (True, False)
    if not (raw and kind == TensorProto.STRING)  # strings have no raw form
], ids=lambda value: TensorProto.DataType.Name(value) if not isinstance(value, bool)
    else ("raw" if value else "typed"))
def test_every_element_type_reads_as_numpy_helper_reads_it(kind: int, raw: bool) -> None:
    tensor = helper.make_tensor(f"t{kind}", kind, [2, 2], _SAMPLES[kind], raw=False)
    if raw:  # make_tensor's raw=True takes bytes: the typed tensor's own bytes
        tensor = numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name)
        assert tensor.HasField("raw_data")
    _same(tensor)


@pytest.mark.parametrize("dims", [[], [0], [3], [1, 2, 1]], ids=str)
def test_scalars_empty_and_odd_shapes(dims: list[int]) -> None:
    count = int(np.prod(dims)) if dims else 1
    values = np.arange(count, dtype=np.int64)
    _same(numpy_helper.from_array(values.reshape(dims), "raw"))
    _same(helper.make_tensor("typed", TensorProto.INT64, dims, values.tolist()))


def test_a_malformed_tensor_raises_as_numpy_helper_does() -> None:
    short = TensorProto(name="short", data_type=TensorProto.FLOAT, dims=[4],
                        raw_data=b"\x00" * 6)
    with pytest.raises(ValueError):
        numpy_helper.to_array(short)
    with pytest.raises(ValueError):
        to_array(short)


def _model_tensors(model: onnx.ModelProto) -> Iterator[TensorProto]:
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        yield from graph.initializer
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                graphs.extend([attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs)


def test_every_tensor_of_the_committed_models() -> None:
    seen = 0
    for path in sorted(FIXTURES.rglob("*.onnx")):
        model = onnx.load(str(path), load_external_data=False)
        for tensor in _model_tensors(model):
            if tensor.data_location != TensorProto.EXTERNAL:
                _same(tensor)
                seen += 1
    assert seen > 2000


def test_every_tensor_of_onnxs_backend_test_cases(backend_cases: list) -> None:
    """Their models' initializers and Constants, and their inputs and outputs as stored."""
    kinds: set[int] = set()
    for case in backend_cases:
        tensors = list(_model_tensors(case.model))
        for inputs, outputs in case.data_sets or ():
            for value in (*inputs, *outputs):
                if isinstance(value, np.ndarray) and value.dtype != object:
                    try:
                        tensors.append(numpy_helper.from_array(value, "data"))
                    except (TypeError, ValueError, KeyError):
                        continue  # a numpy type onnx has no element type for
        for tensor in tensors:
            _same(tensor)
            kinds.add(tensor.data_type)
    assert len(kinds) >= 12


def test_external_data_is_never_read_for_a_value(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4],
                         data_location=TensorProto.EXTERNAL)
    tensor.external_data.add(key="location", value="w.bin")
    assert numpy_helper.to_array(tensor, str(tmp_path)).tolist() == [1.0] * 4  # onnx reads it
    with pytest.raises(ValueError, match="external data"):
        to_array(tensor)


_INT_KINDS = (TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16,
              TensorProto.INT32, TensorProto.UINT32, TensorProto.INT64, TensorProto.UINT64)


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
@pytest.mark.parametrize("kind", sorted(_SAMPLES), ids=TensorProto.DataType.Name)
def test_integers_read_without_numpy_are_to_arrays_or_left_to_it(kind: int, raw: bool) -> None:
    """plain_ints: the flattened values to_array gives, or None (ask to_array); never a
    different answer. Every integer type stored raw is read, and int32, int64 and uint64 in
    their typed fields."""
    if raw and kind == TensorProto.STRING:
        return
    tensor = helper.make_tensor(f"t{kind}", kind, [2, 2], _SAMPLES[kind], raw=False)
    if raw:
        tensor = numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name)
    found = plain_ints(tensor)
    if kind in _INT_KINDS and (raw or kind in (TensorProto.INT32, TensorProto.INT64,
                                              TensorProto.UINT64)):
        assert found == tuple(int(v) for v in numpy_helper.to_array(tensor).reshape(-1))
    else:
        assert found is None


def test_an_integer_tensor_that_does_not_fill_its_dims_raises() -> None:
    for data in (b"\x00" * 12, b"\x00" * 20):  # 3 int32 for 4, and 5 bytes too many
        tensor = TensorProto(name="t", data_type=TensorProto.INT32, dims=[4], raw_data=data)
        with pytest.raises(ValueError):
            numpy_helper.to_array(tensor)
        with pytest.raises(ValueError):
            plain_ints(tensor)


def _numpy_ints(info: TensorInfo) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    value = info.value
    if value is None or value.dtype.kind not in "iu":
        return None
    return tuple(int(v) for v in value.reshape(-1)), tuple(value.shape)


def test_every_constant_of_every_model_has_the_integers_its_value_has() -> None:
    """TensorInfo.int_value against TensorInfo.value (numpy) for every initializer and
    Constant output of every committed model, text fixtures too: the rules that read integers
    (Reshape targets, Gather indices, sequence_lens) see the same numbers either way."""
    seen = 0
    paths = [*FIXTURES.rglob("*.onnx"), *FIXTURES.rglob("*.onnx.txt")]
    for path in sorted(paths):
        try:
            model = load_model(path, str(path), infer_shapes=False)
        except LoadError:
            continue  # the fixtures of unreadable models
        graph = build_graph(model)
        for scope_path, scope in graph._scopes.items():
            for name in [*scope.initializers, *scope.producers]:
                info = graph.tensor(name, scope_path)
                if info is None or info.constant_source is None:
                    continue
                assert info.int_value == _numpy_ints(info), (path.name, name)
                seen += info.int_value is not None
    assert seen > 500


@pytest.mark.parametrize("kind", sorted(_SAMPLES), ids=TensorProto.DataType.Name)
def test_element_type_is_onnx_helpers(kind: int) -> None:
    array = numpy_helper.to_array(helper.make_tensor("t", kind, [2, 2], _SAMPLES[kind]))
    for candidate in (array, array.astype(array.dtype.newbyteorder(">"))
                      if array.dtype.kind in "iuf" and array.dtype.itemsize > 1 else array):
        try:
            expected: int | None = int(helper.np_dtype_to_tensor_dtype(candidate.dtype))
        except Exception:
            expected = None
        assert element_type(candidate) == expected
