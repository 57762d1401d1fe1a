"""The inference child's answer as archlint/graph.py reads it: each graph's declared types.

graph.py reads an inferred model for one thing, the types of its graphs' inputs, outputs and
value_info entries (and, to find a subgraph's own, its nodes' graph attributes). ``TYPES_SCHEMA``
is a ModelProto that declares only those fields, with onnx's own numbers and names, and each
entry's ``type`` as its bytes; every other field is kept as unknown bytes and never decoded.
At 100k nodes the answer parses in 16 ms this way where onnx's whole schema takes 41 ms, and a
type is its bytes, the key graph._Declared decodes it by, instead of a TypeProto to serialize
again (30 ms for 40,000 tensors). The whole inferred model is parsed only when something asks
for it (``LoadedModel.inferred``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["TYPES_SCHEMA", "parse_types"]

# A FileDescriptorProto (tests/test_answer_types.py builds it with descriptor_pb2):
#   Model { Graph graph = 7; }
#   Graph { repeated Node node = 1; repeated Value input = 11; repeated Value output = 12;
#           repeated Value value_info = 13; }
#   Value { string name = 1; bytes type = 2; }                   // a ValueInfoProto
#   Node { repeated Attribute attribute = 5; }
#   Attribute { string name = 1; Graph g = 6; repeated Graph graphs = 11; int32 type = 20; }
TYPES_SCHEMA = (
    b'\n\x1barchlint_answer_types.proto\x12\x15archlint_answer_types"4\n\x05Model\x12+'
    b'\n\x05graph\x18\x07 \x01(\x0b2\x1c.archlint_answer_types.Graph"\xbf\x01\n\x05Graph'
    b'\x12)\n\x04node\x18\x01 \x03(\x0b2\x1b.archlint_answer_types.Node\x12+\n\x05input'
    b'\x18\x0b \x03(\x0b2\x1c.archlint_answer_types.Value\x12,\n\x06output\x18\x0c \x03('
    b'\x0b2\x1c.archlint_answer_types.Value\x120\n\nvalue_info\x18\r \x03(\x0b2\x1c.archli'
    b'nt_answer_types.Value"#\n\x05Value\x12\x0c\n\x04name\x18\x01 \x01(\t\x12\x0c\n\x04ty'
    b'pe\x18\x02 \x01(\x0c";\n\x04Node\x123\n\tattribute\x18\x05 \x03(\x0b2 .archlint_answ'
    b'er_types.Attribute"~\n\tAttribute\x12\x0c\n\x04name\x18\x01 \x01(\t\x12\'\n\x01g'
    b'\x18\x06 \x01(\x0b2\x1c.archlint_answer_types.Graph\x12,\n\x06graphs\x18\x0b \x03('
    b'\x0b2\x1c.archlint_answer_types.Graph\x12\x0c\n\x04type\x18\x14 \x01(\x05b\x06proto2'
)
_PACKAGE = "archlint_answer_types"
# a class for every message: upb finds the class of a field's message by its descriptor
_MESSAGES = ("Value", "Attribute", "Node", "Graph", "Model")


def parse_types(data: bytes) -> Any:
    """The answer read with TYPES_SCHEMA: ``.graph`` has ``input``, ``output`` and
    ``value_info`` entries with ``name`` and ``type`` (bytes), and ``node[i].attribute[j]``
    with ``name``, ``type``, ``g`` and ``graphs``. Raises protobuf's DecodeError as
    ``ModelProto.FromString`` does."""
    return model_class(fast=True).FromString(data)


@lru_cache(maxsize=2)
def model_class(*, fast: bool = True) -> Any:
    """TYPES_SCHEMA's Model class, made once. ``fast``: as protobuf's cpp_message makes a
    class where upb is the implementation (the parent has protobuf's descriptor modules loaded
    anyway: onnx's generated module needs them); message_factory otherwise."""
    from google.protobuf.internal import api_implementation

    if fast and api_implementation.Type() == "upb":
        from google.protobuf import message

        upb: Any = api_implementation._c_module
        pool = upb.DescriptorPool()
        pool.AddSerializedFile(TYPES_SCHEMA)
        classes = {name: upb.MessageMeta(name, (message.Message,), {
            "DESCRIPTOR": pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"), "__module__": None})
            for name in _MESSAGES}
        return classes["Model"]
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(TYPES_SCHEMA)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Model"))
