"""AL108 and AL109 read LSTM/GRU/RNN schemas from a table written from one onnx release
(rules/archlint_rules/_schema_table.py): it must give onnx.defs' answers, at every opset."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest
from archlint_rules import _schema_table
from archlint_rules._schema import allowed_dtypes, from_onnx, recurrent_schema, slots_of_type

from archlint.onnx_ops import slot_names

from .conftest import REPO

OPSETS = [None, -1, 0, *range(1, onnx.defs.onnx_opset_version() + 3)]


@pytest.mark.parametrize("op_type", ["LSTM", "GRU", "RNN"])
def test_the_schema_the_rules_read_is_onnx_defs_at_every_opset(op_type: str) -> None:
    """Under the release it was written from, the table; under any other, onnx.defs itself:
    either way the same schema as onnx.defs.get_schema gives."""
    for opset in OPSETS:
        assert recurrent_schema(op_type, opset) == from_onnx(op_type, opset), opset


def test_the_table_is_used_only_under_its_own_onnx_release() -> None:
    if onnx.__version__ != _schema_table.ONNX_VERSION:
        pytest.skip(f"the table is of onnx {_schema_table.ONNX_VERSION}, this is "
                    f"{onnx.__version__}: the rules read onnx.defs")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_schema_table.py"),
                           "--check"], capture_output=True, text=True, cwd=REPO / "scripts")
    assert done.returncode == 0, done.stdout + done.stderr


def test_what_al108_and_al109_read_of_lstm_at_opsets_14_and_22() -> None:
    """The facts the findings quote: bfloat16 joins T at opset 22; P is an LSTM input."""
    lstm14, lstm22 = recurrent_schema("LSTM", 14), recurrent_schema("LSTM", 22)
    assert (lstm14.since_version, lstm14.min_input, lstm14.max_input, lstm14.max_output) == (
        14, 3, 8, 3)
    assert allowed_dtypes(lstm14, "T") == {onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT,
                                           onnx.TensorProto.DOUBLE}
    assert allowed_dtypes(lstm22, "T") - allowed_dtypes(lstm14, "T") == {
        onnx.TensorProto.BFLOAT16}
    assert slots_of_type(lstm22, "T") == (
        "X", "W", "R", "B", "initial_h", "initial_c", "P")
    assert slots_of_type(lstm22, "T1") == ("sequence_lens",)
    assert allowed_dtypes(recurrent_schema("GRU", 7), "T1") == {onnx.TensorProto.INT32}
    assert recurrent_schema("GRU", 2).since_version == 1
    assert recurrent_schema("RNN", None).since_version == recurrent_schema("RNN", 99).since_version


def _schema_slots(domain: str, op_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        schema = onnx.defs.get_schema(op_type, domain=domain)
    except onnx.defs.SchemaError:
        return ((), ())
    return tuple(p.name for p in schema.inputs), tuple(p.name for p in schema.outputs)


def test_the_slots_a_finding_names_are_onnx_defs_for_every_op_and_domain() -> None:
    """archlint.onnx_ops.slot_names (the table for the ONNX domain, onnx.defs elsewhere) gives
    get_schema's input and output names for every op of every domain onnx defines, and none
    for an op or a domain it does not."""
    ops = {(s.domain, s.name) for s in onnx.defs.get_all_schemas_with_history()}
    ops |= {("", "NoSuchOp"), ("ai.onnx", "LSTM"), ("com.microsoft", "DynamicQuantizeLSTM")}
    for domain, op_type in sorted(ops):
        assert slot_names(domain, op_type) == _schema_slots(domain, op_type), (domain, op_type)
    assert slot_names("", "LSTM")[0][5] == "initial_h"
    assert slot_names("", "Reshape") == (("data", "shape"), ("reshaped",))
