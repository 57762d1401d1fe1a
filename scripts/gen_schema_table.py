"""Write rules/archlint_rules/_schema_table.py: what AL108 and AL109 read of onnx's schemas of
LSTM, GRU and RNN, every version, from the onnx installed here; and archlint/onnx_ops_table.py:
the first opset of every op of the ONNX domain (AL005, archlint/onnx_ops.py) and its newest
schema's input and output names (the slots a finding names, archlint/graph.py).

Run: python scripts/gen_schema_table.py          (rewrites the table)
     python scripts/gen_schema_table.py --check  (exit 1 when it is out of date)
The rules use the table only under the onnx release it was written from (archlint_rules/
_schema.py); tests/test_schema_table.py compares it with onnx.defs for every opset.
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
from archlint_rules._schema import from_onnx
from docgen import write_or_check

from archlint.onnx_ops import attributes_from_onnx, required_from_onnx, slots_from_onnx
from archlint.onnx_ops import from_onnx as from_onnx_ops

TABLE = Path(__file__).resolve().parents[1] / "rules" / "archlint_rules" / "_schema_table.py"
OPS_TABLE = Path(__file__).resolve().parents[1] / "archlint" / "onnx_ops_table.py"
OPS = ("LSTM", "GRU", "RNN")
NEWEST_OPSET = onnx.defs.onnx_opset_version()


def table_text() -> str:
    lines = ["SCHEMAS: dict[str, dict[int, _Entry]] = {"]
    for op_type in OPS:
        lines.append(f'    "{op_type}": {{')
        seen: set[int] = set()
        for opset in range(1, NEWEST_OPSET + 1):
            schema = from_onnx(op_type, opset)
            if schema.since_version in seen:
                continue
            seen.add(schema.since_version)
            inputs = ", ".join(f'("{name}", "{param}")' for name, param in schema.inputs)
            allowed = ", ".join(f'("{param}", {tuple(sorted(types))!r})'
                                for param, types in schema.allowed)
            lines.append(f"        {schema.since_version}: ({schema.min_input}, "
                         f"{schema.max_input}, {schema.max_output}, ({inputs},), ({allowed},)),")
        lines.append("    },")
    lines.append("}")
    return (
        "# ruff: noqa: E501\n"
        '"""What AL108 and AL109 read of onnx\'s schemas of LSTM, GRU and RNN, by since_version:\n'
        "(min_input, max_input, max_output, ((input, type parameter), ...),\n"
        "((type parameter, (TensorProto types, ...)), ...)).\n\n"
        f"Written by scripts/gen_schema_table.py from onnx {onnx.__version__}; used only under"
        " that release\n(archlint_rules/_schema.py). Do not edit.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        f'ONNX_VERSION = "{onnx.__version__}"\n\n'
        "_Entry = tuple[int, int, int, tuple[tuple[str, str], ...], "
        "tuple[tuple[str, tuple[int, ...]], ...]]\n\n"
        + "\n".join(lines) + "\n"
    )


def ops_table_text() -> str:
    first = from_onnx_ops()
    entries = "".join(f'    "{op}": {first[op]},\n' for op in sorted(first))
    slots = "".join(f'    "{op}": ({names[0]!r}, {names[1]!r}),\n'
                    for op, names in sorted(slots_from_onnx().items()))
    attributes = "".join(f'    "{op}": {versions!r},\n'
                         for op, versions in attributes_from_onnx().items())
    required = "".join(f'    "{op}": {positions!r},\n'
                       for op, positions in sorted(required_from_onnx().items()) if positions)
    return (
        "# ruff: noqa: E501\n"
        '"""The first opset of the ONNX domain that defines each op type, and the names of its\n'
        "newest schema's inputs and outputs (archlint/onnx_ops.py).\n\n"
        f"Written by scripts/gen_schema_table.py from onnx {onnx.__version__}; used only under"
        " that release.\nDo not edit.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        f'ONNX_VERSION = "{onnx.__version__}"\n'
        f"NEWEST_OPSET = {NEWEST_OPSET}\n\n"
        "FIRST_OPSET: dict[str, int] = {\n" + entries + "}\n\n"
        "SLOT_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {\n" + slots + "}\n\n"
        "# the attribute names of each version, for the ops whose versions differ (AL007)\n"
        "ATTRIBUTES: dict[str, tuple[tuple[int, tuple[str, ...]], ...]] = {\n" + attributes
        + "}\n\n"
        "# the input positions every version requires (single in all its schemas; AL004)\n"
        "REQUIRED_INPUTS: dict[str, tuple[int, ...]] = {\n" + required + "}\n"
    )


def main(argv: list[str]) -> int:
    return write_or_check({TABLE: table_text(), OPS_TABLE: ops_table_text()}, argv,
                          "scripts/gen_schema_table.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
