from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.patterns import attr_int
from archlint_rules._layout import node_text, others_text

_MICROSOFT = "com.microsoft"
_SMALLEST = 16


class MatMulNBitsBlockSize(Rule):
    """A com.microsoft MatMulNBits node's ``block_size`` is not a power of two of 16 or more.

    ## What it does
    Reads the ``block_size`` attribute of every ``com.microsoft`` MatMulNBits node (what
    onnxruntime's ``MatMulNBitsQuantizer``, Intel Neural Compressor's RTN / GPTQ / AWQ and other
    weight-only quantizers write for a MatMul of a stored weight: 4-bit values in blocks of
    ``block_size`` along K, one scale per block) and reports each value that is not a power of
    two of at least 16, once per value, at its first node, with how many others share it.

    ## Why is this bad?
    onnxruntime's kernel refuses it when the session is created: ``Only power-of-two block
    sizes >= 16 are supported for MatMulNBits op, got: 4``
    (onnxruntime/contrib_ops/cpu/quantization/matmul_nbits.cc). A quantizer asked for a
    small group size (Intel Neural Compressor's ``group_size=4``, to keep a small recurrent
    cell's accuracy) writes a model that nothing loads. onnx's shape inference does not know
    the op, so nothing else says so before deployment.

    ## Example
    ``com.microsoft.MatMulNBits <K: int = 4, N: int = 8, bits: int = 4, block_size: int = 8>``:
    quantize again with a block size of 16, 32, 64 or 128 (the quantizers' defaults are 32
    and 128). See fixtures/AL021/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL021"
    name = "matmulnbits-block-size"
    severity = Severity.ERROR
    summary = "A MatMulNBits node's block_size is not a power of two of 16 or more"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if "MatMulNBits" not in ctx.graph.op_types:
            return
        wrong: dict[int | None, list[str]] = {}
        for node in ctx.graph.iter_nodes(frozenset({"MatMulNBits"})):
            if node.domain != _MICROSOFT:
                continue
            size = attr_int(node, "block_size")
            if size is None or size < _SMALLEST or size & (size - 1):
                wrong.setdefault(size, []).append(node.id)
        for size, ids in wrong.items():
            node = ctx.graph.node(ids[0])
            others = len(ids) - 1
            also = others_text(others)
            shown = "no block_size" if size is None else f"block_size={size}"
            yield ctx.finding(
                self, node,
                f"{node_text(node)}{also} has {shown}: onnxruntime's MatMulNBits takes only "
                "a power of two of 16 or more and refuses to create the session",
                attribute="block_size", expected="a power of two >= 16 (16, 32, 64, 128)",
                actual=shown,
                help="Quantize the weights again with a block (group) size of 16 or more, a "
                "power of two (onnxruntime's MatMulNBitsQuantizer: block_size=32; Intel Neural "
                "Compressor: group_size=32).",
            )
