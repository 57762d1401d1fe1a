"""The inference child's answer as archlint/graph.py reads it: each graph's declared types.

graph.py reads an inferred model for one thing, the types of its graphs' inputs, outputs and
value_info entries (and, to find a subgraph's own, its nodes' graph attributes). ``TYPES_SCHEMA``
is a ModelProto that declares only those fields, with onnx's own numbers and names, and each
entry's ``type`` as its bytes; every other field is kept as unknown bytes and never decoded.
At 100k nodes the answer parses in 16 ms this way where onnx's whole schema takes 41 ms, and a
type is its bytes, the key archlint/declared_types.py decodes it by, instead of a TypeProto to
serialize again (30 ms for 40,000 tensors). The whole inferred model is parsed only when
something asks for it (``LoadedModel.inferred``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["TYPES_SCHEMA", "message_class", "model_class", "parse_types"]

# A FileDescriptorProto (tests/test_answer_types.py builds it with descriptor_pb2):
#   Model { Graph graph = 7; }
#   Graph { repeated Node node = 1; repeated Value input = 11; repeated Value output = 12;
#           repeated Value value_info = 13; }
#   Value { string name = 1; bytes type = 2; }                   // a ValueInfoProto
#   Node { repeated Attribute attribute = 5; }
#   Attribute { string name = 1; Graph g = 6; repeated Graph graphs = 11;
#               AttributeType type = 20; }                      // onnx's enum, values 0-14
TYPES_SCHEMA = (
    b'\n\x1barchlint_answer_types.proto\x12\x15archlint_answer_types"4\n\x05Model\x12+\n'
    b'\x05graph\x18\x07 \x01(\x0b2\x1c.archlint_answer_types.Graph"\xbf\x01\n\x05Graph\x12'
    b')\n\x04node\x18\x01 \x03(\x0b2\x1b.archlint_answer_types.Node\x12+\n\x05input\x18'
    b'\x0b \x03(\x0b2\x1c.archlint_answer_types.Value\x12,\n\x06output\x18\x0c \x03(\x0b2'
    b'\x1c.archlint_answer_types.Value\x120\n\nvalue_info\x18\r \x03(\x0b2\x1c.archlint_an'
    b'swer_types.Value"#\n\x05Value\x12\x0c\n\x04name\x18\x01 \x01(\t\x12\x0c\n\x04type'
    b'\x18\x02 \x01(\x0c";\n\x04Node\x123\n\tattribute\x18\x05 \x03(\x0b2 .archlint_answer'
    b'_types.Attribute"\xa4\x01\n\tAttribute\x12\x0c\n\x04name\x18\x01 \x01(\t\x12\'\n\x01'
    b'g\x18\x06 \x01(\x0b2\x1c.archlint_answer_types.Graph\x12,\n\x06graphs\x18\x0b \x03('
    b'\x0b2\x1c.archlint_answer_types.Graph\x122\n\x04type\x18\x14 \x01(\x0e2$.archlint_an'
    b'swer_types.AttributeType*\xd9\x01\n\rAttributeType\x12\r\n\tUNDEFINED\x10\x00\x12\t'
    b'\n\x05FLOAT\x10\x01\x12\x07\n\x03INT\x10\x02\x12\n\n\x06STRING\x10\x03\x12\n\n\x06TE'
    b'NSOR\x10\x04\x12\t\n\x05GRAPH\x10\x05\x12\n\n\x06FLOATS\x10\x06\x12\x08\n\x04INTS'
    b'\x10\x07\x12\x0b\n\x07STRINGS\x10\x08\x12\x0b\n\x07TENSORS\x10\t\x12\n\n\x06GRAPHS'
    b'\x10\n\x12\x11\n\rSPARSE_TENSOR\x10\x0b\x12\x12\n\x0eSPARSE_TENSORS\x10\x0c\x12\x0e'
    b'\n\nTYPE_PROTO\x10\r\x12\x0f\n\x0bTYPE_PROTOS\x10\x0eb\x06proto2'
)
def parse_types(data: bytes) -> Any | None:
    """The answer read with TYPES_SCHEMA: ``.graph`` has ``input``, ``output`` and
    ``value_info`` entries with ``name`` and ``type`` (bytes), and ``node[i].attribute[j]``
    with ``name``, ``type``, ``g`` and ``graphs``. None where the protobuf at hand cannot make
    the class (the caller parses the whole model then). Raises protobuf's DecodeError as
    ``ModelProto.FromString`` does."""
    try:
        model = model_class()
    except Exception:  # a protobuf without what model_class uses: onnx's own schema then
        return None
    return model.FromString(data)


@lru_cache(maxsize=2)
def model_class(*, fast: bool = True) -> Any:
    """TYPES_SCHEMA's Model class, made once (:func:`message_class`)."""
    return message_class(TYPES_SCHEMA, "archlint_answer_types.Model", fast=fast)


def message_class(schema: bytes, name: str, *, fast: bool = True) -> Any:
    """The class of message ``name`` (its full name) of ``schema``, a serialized
    FileDescriptorProto, in a pool of its own; a class is made for every message of the file
    (upb finds the class of a field's message by its descriptor). ``fast``: as protobuf's
    cpp_message makes one where upb is the implementation (4 ms, where importing
    descriptor_pool and message_factory takes 20 ms); message_factory otherwise. The
    inference child, which imports nothing of archlint's, loads this module by its path: it
    needs nothing but protobuf."""
    from google.protobuf.internal import api_implementation

    if fast and api_implementation.Type() == "upb":
        from google.protobuf import message

        upb: Any = api_implementation._c_module
        pool = upb.DescriptorPool()
        messages = pool.AddSerializedFile(schema).message_types_by_name.values()
        classes = {descriptor.full_name: upb.MessageMeta(descriptor.name, (message.Message,), {
            "DESCRIPTOR": descriptor, "__module__": None}) for descriptor in messages}
        return classes[name]
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(schema)
    descriptor = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    # protobuf before 4.21, which onnx 1.16 still accepts
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)
