from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, Rule, RuleContext, Safety, Severity
from archlint.patterns import transpose_perm
from archlint_rules._dims import describe
from archlint_rules._fixes import leading_ints, node_of
from archlint_rules._layout import ints_text, labelled, misfolds, node_text

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


class WrongDirectionTranspose(Rule):
    """The Transpose between a bidirectional Y (or Y_h, Y_c) and its flattening Reshape is wrong.

    ## What it does
    Follows Y, Y_h and Y_c of every bidirectional LSTM, GRU or RNN through Transpose nodes
    (composing their permutations) to a Reshape that lowers its rank, and reports the last
    Transpose when the direction axis D does not end up directly before H. It names the perm
    that would (``[1, 0, 2]`` for a state ``[D, batch, H]``).

    ## Why is this bad?
    Y is ``[seq, D, batch, H]``. Only ``[seq, batch, D, H]`` flattens to the
    ``[seq, batch, 2·H]`` that PyTorch returns: forward h_t, then backward h_t. An exporter
    once emitted ``perm=[0, 2, 3, 1]``, giving ``[seq, batch, H, D]``: the Reshape still runs,
    but the features come out interleaved, h_fw[0], h_bw[0], h_fw[1], ... The next layer's W,
    or a Linear head trained on PyTorch's order, multiplies the wrong features: results are
    silently wrong. A perm that leaves D next to batch interleaves batch rows instead.

    ## Example
    ``[to_sbdh] Yt = Transpose <perm = [0, 2, 3, 1]> (Y)`` then ``Reshape (Yt, [0, 0, -1])``:
    the fix is ``perm = [0, 2, 1, 3]``. See fixtures/AL304/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL304"
    name = "wrong-direction-transpose"
    severity = Severity.ERROR
    summary = "Transpose before flattening a bidirectional Y does not put D directly before H"
    fix_safety = Safety.UNSAFE

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for fold in misfolds(ctx):
            if not fold.path.transposes:
                continue  # no Transpose at all is AL303's finding
            last = fold.path.transposes[-1]
            perm = transpose_perm(last, 4)
            expected = ints_text(list(fold.expected_perm()))
            layer = fold.layer
            yield ctx.finding(
                self, last,
                f"{node_text(last)} turns {fold.slot} of bidirectional {describe(layer)} "
                f"{labelled(fold.labels, layer.shape(fold.slot))} into "
                f"[{', '.join(fold.order_labels)}] before {node_text(fold.path.reshape)} "
                "flattens it: the direction axis is not directly before H",
                attribute="perm", expected=expected,
                actual=ints_text(list(perm)) if perm is not None else None,
                help=f"Use perm={expected}, so the flattened features are forward H then "
                "backward H, as PyTorch returns them.",
            )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Set the Transpose's perm to the one that puts D directly before H. Unsafe: the
        flattened features change order, as intended (forward H, then backward H)."""
        node = node_of(finding, editor)
        perm = leading_ints(finding.expected)
        if node is None or perm is None:
            return None
        return Fix(f"perm {finding.actual} -> {finding.expected} (D directly before H)",
                   Safety.UNSAFE, lambda: editor.set_attribute(node, "perm", list(perm)))
