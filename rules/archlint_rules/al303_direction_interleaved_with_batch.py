from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, Rule, RuleContext, Safety, Severity
from archlint.patterns import reshape_target
from archlint_rules._dims import describe
from archlint_rules._fixes import node_of
from archlint_rules._layout import ints_text, labelled, misfolds, node_text

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


class DirectionInterleavedWithBatch(Rule):
    """A bidirectional Y, Y_h or Y_c is flattened by a Reshape without first moving D next to H.

    ## What it does
    Follows Y of every bidirectional LSTM, GRU or RNN (``[seq, D, batch, H]`` with D = 2, or
    ``[batch, seq, D, H]`` with ``layout=1``) and its final states Y_h / Y_c
    (``[D, batch, H]``) through Identity/Cast to a Reshape that lowers the rank, with no
    Transpose on the way, and reports the Reshape when the direction axis is not directly
    before H (a Reshape whose last axis is H itself only merges rows and is left alone). A
    final state is followed through the Concat of a stack's states (PyTorch's ``h_n``) and a
    Slice that takes exactly its D rows back out (``h_n[-2:]``, the last layer's).

    ## Why is this bad?
    PyTorch returns a bidirectional output as ``[seq, batch, 2·H]``: per time step and batch
    row, the forward h_t (H values) followed by the backward h_t. In ONNX's Y the direction axis
    sits between seq and batch, so the classic exporter emits ``Transpose perm=[0, 2, 1, 3]``
    (to ``[seq, batch, D, H]``) and then ``Reshape [0, 0, -1]``. A Reshape straight from
    ``[seq, D, batch, H]`` to ``[seq, batch, 2·H]`` has the same element count, so it runs, but
    "batch row" b then holds direction ⌊b·2/batch⌋ of some other row, and every feature vector
    mixes two batch rows. The next layer or the classifier head reads garbage, silently.

    The final state has the same trap: PyTorch's ``h_n.view(batch, -1)`` on a bidirectional
    ``h_n [2, batch, H]`` (the classic sentence-classifier bug) exports as a Reshape of Y_h
    to ``[batch, 2·H]``; row b then holds direction ⌊2b/batch⌋ of two other sequences. The
    intended ``[batch, 2·H]`` (forward h_T, then backward h_1, as ``torch.cat((h_n[-2],
    h_n[-1]), 1)`` gives) needs ``Transpose perm=[1, 0, 2]`` first. One rule covers Y and the
    states because the defect and the fix are the same: D must sit directly before H.

    ## Example
    ``[flatten] Yf = Reshape (Y, [0, -1, 6])`` on Y ``[seq, 2, batch, 3]``: insert
    ``Yt = Transpose <perm = [0, 2, 1, 3]> (Y)`` and reshape Yt with ``[0, 0, -1]``. See
    fixtures/AL303/bad.onnx.txt and good.onnx.txt; for Y_h, bad_state.onnx.txt and
    good_state.onnx.txt.
    """

    code = "AL303"
    name = "direction-interleaved-with-batch"
    severity = Severity.ERROR
    summary = "bidirectional Y / Y_h / Y_c flattened without the Transpose that puts D before H"
    fix_safety = Safety.UNSAFE

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for fold in misfolds(ctx):
            if fold.path.transposes:
                continue  # a Transpose with the wrong perm is AL304's finding
            reshape = fold.path.reshape
            target = reshape_target(ctx.graph, reshape)
            target_text = ints_text(target) if target is not None else "a computed shape"
            wanted_perm = ints_text(list(fold.desired_order()))
            layer = fold.layer
            yield ctx.finding(
                self, reshape,
                f"{node_text(reshape)} flattens {fold.slot} of bidirectional {describe(layer)} "
                f"{labelled(fold.labels, layer.shape(fold.slot))} to {target_text} without "
                "moving the direction axis next to H: directions and batch rows are "
                "interleaved",
                input="data",
                expected=f"Transpose perm={wanted_perm} before the Reshape",
                actual="Reshape of " + "[" + ", ".join(fold.order_labels) + "]",
                help=f"Insert Transpose <perm={wanted_perm}> between {layer.label}'s "
                f"{fold.slot} and the Reshape, then Reshape with {fold.keep_target} to get "
                f"{fold.folded} (forward H, then backward H).",
            )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Insert the Transpose that puts D next to H; a constant target becomes the one that
        keeps the leading axes and joins D·H (a computed one already follows the input)."""
        node = node_of(finding, editor)
        loc = finding.location
        fold = next((f for f in misfolds(editor.context) if not f.path.transposes
                     and f.path.reshape.graph == loc.graph
                     and f.path.reshape.index == loc.node_index), None)
        if node is None or fold is None:
            return None
        perm = list(fold.desired_order())
        target = reshape_target(editor.context.graph, fold.path.reshape)
        keep = [0] * (len(perm) - 2) + [-1]
        # the [seq, batch, 2·H] / [batch, 2·H] fold gets the target that keeps the leading
        # axes; another constant target stays only if none of its 0s copies a moved axis
        constant = target is not None and len(target) == len(perm) - 1
        if target is not None and not constant and any(
                value == 0 and (j >= len(perm) or perm[j] != j)
                for j, value in enumerate(target)):
            return None

        def apply() -> None:
            import numpy as np  # `archlint fix` only

            editor.insert_before(node, 0, "Transpose", {"perm": perm}, "direction_before_h")
            if constant:
                editor.set_constant_input(node, 1, np.array(keep, dtype=np.int64),
                                          f"{node.name or 'reshape'}_shape")

        return Fix(f"insert Transpose perm={ints_text(perm)} on {fold.slot} before the Reshape"
                   + (f", target {ints_text(keep)}" if constant else ""), Safety.UNSAFE, apply)
