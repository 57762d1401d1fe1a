# ruff: noqa: E501
"""What AL108 and AL109 read of onnx's schemas of LSTM, GRU and RNN, by since_version:
(min_input, max_input, max_output, ((input, type parameter), ...),
((type parameter, (TensorProto types, ...)), ...)).

Written by scripts/gen_schema_table.py from onnx 1.23.2; used only under that release
(archlint_rules/_schema.py). Do not edit.
"""

from __future__ import annotations

ONNX_VERSION = "1.23.2"

_Entry = tuple[int, int, int, tuple[tuple[str, str], ...], tuple[tuple[str, tuple[int, ...]], ...]]

SCHEMAS: dict[str, dict[int, _Entry]] = {
    "LSTM": {
        1: (3, 8, 3, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"), ("initial_c", "T"), ("P", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        7: (3, 8, 3, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"), ("initial_c", "T"), ("P", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        14: (3, 8, 3, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"), ("initial_c", "T"), ("P", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        22: (3, 8, 3, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"), ("initial_c", "T"), ("P", "T"),), (("T", (1, 10, 11, 16)), ("T1", (6,)),)),
    },
    "GRU": {
        1: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        3: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        7: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        14: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        22: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11, 16)), ("T1", (6,)),)),
    },
    "RNN": {
        1: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        7: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        14: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11)), ("T1", (6,)),)),
        22: (3, 6, 2, (("X", "T"), ("W", "T"), ("R", "T"), ("B", "T"), ("sequence_lens", "T1"), ("initial_h", "T"),), (("T", (1, 10, 11, 16)), ("T1", (6,)),)),
    },
}
