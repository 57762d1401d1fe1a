"""The parameter report's record copies and its zero-bias check, case by case."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint.params_types import Convention, LayerParams, SlotCount, replaced
from archlint.weight_sources import Basis, Source, Trace, all_zero


def _row() -> LayerParams:
    return LayerParams(graph="main", node="/rnn/LSTM", label="/rnn/LSTM", node_index=3,
                       op_type="LSTM", kind="recurrent",
                       slots=(SlotCount("W", "W", 32, 32, 32),), notes=("a note",))


def test_replaced_is_dataclasses_replace() -> None:
    row = _row()
    changes = {"output_shape": ("seq", 1, "batch", 2), "param_bytes": 128, "module": "rnn"}
    copy = replaced(row, **changes)
    assert copy == dataclasses.replace(row, **changes)
    assert copy is not row and row.module is None  # the original is untouched
    slot = replaced(row.slots[0], shared_with="<other>")
    assert slot == dataclasses.replace(row.slots[0], shared_with="<other>")
    assert slot.count(Convention.ONNX) == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.module = "x"  # type: ignore[misc]


def test_replaced_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field 'modul'"):
        replaced(_row(), modul="rnn")


def _bias(tensor: TensorProto) -> Trace:
    elements = int(np.prod(tensor.dims))
    source = Source("main", tensor.name, elements, Basis.INITIALIZER, tensor.data_type,
                    tuple(tensor.dims), tensor)
    return Trace(Basis.INITIALIZER, (source,))


@pytest.mark.parametrize(("values", "dtype", "expected"), [
    ([0.0] * 8, np.float32, True),
    ([0.0, -0.0, 0.0, -0.0], np.float32, True),  # -0.0 == 0: no bias
    ([0.0, 0.0, 1e-30, 0.0], np.float32, False),
    ([0.0, float("nan")], np.float32, False),
    ([0.0] * 6, np.float64, True),
    ([0.0] * 6, np.float16, True),
    ([0, 0, 0], np.int8, True),
    ([0, 0, 1], np.int64, False),
])
def test_all_zero_on_raw_data(values: list[float], dtype: type, expected: bool) -> None:
    tensor = numpy_helper.from_array(np.array(values, dtype=dtype), "B")
    assert tensor.HasField("raw_data")
    assert all_zero(_bias(tensor)) is expected


def test_all_zero_on_typed_fields_and_odd_tensors() -> None:
    floats = helper.make_tensor("B", TensorProto.FLOAT, [4], [0.0, 0.0, -0.0, 0.0])
    assert not floats.HasField("raw_data")
    assert all_zero(_bias(floats))
    assert not all_zero(_bias(helper.make_tensor("B", TensorProto.FLOAT, [2], [0.0, 2.0])))
    # bfloat16 is not a numpy number: never judged zero (as before the raw-data fast path)
    bf16 = helper.make_tensor("B", TensorProto.BFLOAT16, [2], b"\0\0\0\0", raw=True)
    assert not all_zero(_bias(bf16))
    # raw data shorter than the dims say: malformed, not provably zero
    short = TensorProto(name="B", data_type=TensorProto.FLOAT, dims=[4], raw_data=b"\0" * 8)
    assert not all_zero(_bias(short))
    empty = helper.make_tensor("B", TensorProto.FLOAT, [0], b"", raw=True)
    assert not all_zero(_bias(empty))
