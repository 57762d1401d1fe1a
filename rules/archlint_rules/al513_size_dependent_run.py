from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.runtime.collector import trim
from archlint_rules._layout import batch_fix, declared_state_batch, dynamic_symbols

if TYPE_CHECKING:
    from archlint.graph import NodeInfo
    from archlint.runtime.result import RuntimeRun, SweepRun

_FAILED = ("session_failed", "run_failed")


class SizeDependentRun(RuntimeRule):
    """The model runs at one size of a dynamic dimension and fails (or changes its output
    shapes) at another.

    ## What it does
    Runs the model at the bound sizes (batch 2, seq 5 unless ``--dim`` says otherwise), then
    again with each group of tied dimensions at a second size (seq 7; the batch past the
    sequence, 7 at seq 5, so that a model that takes one axis for the other fails; a value the
    user gave is left alone), one group at a time, and reports a size at which onnxruntime fails
    or returns an output whose shape contradicts the static one, naming the dimension, the
    node onnxruntime names, and the size that runs and the size that fails. An output that
    follows the dim where only its declaration holds the first size (a graph output declared
    ``[batch, 5, 2]``, computed ``[batch, 7, 2]``) is a warning, as AL316 says without a run.
    An output that keeps the first size on an axis that declares the dim is an error where
    nothing in it follows the dim (the graph ignores it: a loop written out at export), a
    warning where another of its axes does (the declaration put the dim on the wrong axis:
    DeepFilterNet's encoder declares ``e1 [S, 16, S, 16]`` and computes ``[1, 16, S, 16]``).
    Groups that share a base size also run once together, and (three to five of them) once
    for each set of all but one: where each group of a set fails alone and the set runs
    together, they are one size the inputs name apart (x's batch and h's in a Keras cell
    step; in a TF1 graph, x's, sequence_length's and the initial states' beside a time axis
    of the same size), not a finding. A batch that fails past the sequence is run once more
    with the sequence past it; where that runs, the finding says the model fails only where
    the batch passes the sequence.

    ## Why is this bad?
    An exporter that traces the model at its example input can write the example's sizes into
    the graph as constants: the dynamo exporter of torch 2.13 writes ``seq = 5`` into the
    target of a Reshape after a bidirectional GRU, ``[5, -1, 6]``. The graph declares ``seq``
    dynamic, runs at 5 and fails at every other length. A runtime check at the export's own
    example sizes cannot see it; a second size does.

    A recurrent layer runs over any sequence and any batch, so a failure on a dim tied to its
    sequence or batch axis is an error. Any other dim (an image side, a number of samples) may
    be meant for sizes of a kind (a multiple of a convolution stack's stride, a minimum
    length): a text detector that runs at a side of 3 and fails at 5 only needs multiples of
    32. There the finding is a warning that asks for the sizes the model is meant for.

    ## Example
    fixtures/AL513/bad.onnx.txt reshapes the LSTM output to ``[5, -1, 3]``: it runs at seq 5
    and fails at seq 7. fixtures/AL513/good.onnx.txt reads the target with ``0`` (copy the
    input's size) and runs at both.
    """

    code = "AL513"
    name = "size-dependent-run"
    severity = Severity.ERROR
    summary = "the model runs at one size of a dynamic dim and fails at another (runtime check)"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        main = run.main
        if main is None:
            return
        main_mismatch = any(check.mismatch for check in run.outputs)
        for sweep in run.sweep:
            if sweep.together:
                continue  # it runs when the dims the inputs name apart move together
            if main.status == "ok" and sweep.status in _FAILED and sweep.below_sequence:
                yield self._finding(
                    ctx, sweep, sweep.base, sweep.size, sweep.node,
                    f"it ran at {sweep.below_sequence}: it fails only where the batch passes "
                    f"the sequence; onnxruntime: {trim(sweep.error)}", advice=_CROSSED_HELP)
            elif main.status == "ok" and sweep.status in _FAILED:
                yield self._finding(ctx, sweep, sweep.base, sweep.size, sweep.node,
                                    f"onnxruntime: {trim(sweep.error)}")
            elif main.status == "ok" and sweep.mismatched and not main_mismatch \
                    and sweep.declared_only:
                yield self._declaration_finding(ctx, sweep)
            elif main.status == "ok" and sweep.mismatched and not main_mismatch:
                kept = _kept(run, sweep)
                if kept and not _unchanged(run, sweep):
                    yield self._misdeclared_finding(ctx, sweep)
                    continue
                yield self._finding(
                    ctx, sweep, sweep.base, sweep.size, None,
                    f"output(s) {', '.join(sweep.mismatched)} keep {sweep.base} where they "
                    f"declare {sweep.dim}: the graph does not follow it" if kept else
                    f"output(s) {', '.join(sweep.mismatched)} contradict their static shape",
                    advice=_KEPT_HELP if kept else None)
            elif main.status == "run_failed" and sweep.status == "ok" and not run.invented:
                # (on invented values the first failure is AL514's warning, not the model's)
                yield self._finding(ctx, sweep, sweep.size, sweep.base, main.node,
                                    f"onnxruntime: {trim(main.error)}")

    def _declaration_finding(self, ctx: RuleContext, sweep: SweepRun) -> Finding:
        """The run at the other size computed outputs that follow the dim; only their declared
        shapes hold the main run's size: a warning, as AL316 says it without a run."""
        names = ", ".join(sweep.mismatched)
        return self._declared_wrong(
            ctx, sweep,
            f"at {sweep.size} output(s) {names} contradict their declared shape, which holds "
            f"{sweep.base} where the output follows {sweep.dim}",
            f"declared shapes that follow {sweep.dim} (declared dynamic)",
            f"{names} declared with {sweep.base} where {sweep.dim}={sweep.size}",
            "The output's declaration was written with the export example's size (AL316 "
            "finds it without a run). Declare the axis with the graph input's symbol; in "
            "torch, the classic exporter (dynamo=False) declares it dynamic. onnxruntime "
            "computes the output right and warns; buffers sized from the declared shape are "
            "wrong.")

    def _misdeclared_finding(self, ctx: RuleContext, sweep: SweepRun) -> Finding:
        """Outputs that keep the main run's size on an axis declaring the swept dim while
        another of their axes moves with it: the declaration put the dim on the wrong axis
        (DeepFilterNet's encoder declares e1 [S, 16, S, 16] and computes [1, 16, S, 16]);
        the values follow the dim, only the declaration is wrong: a warning."""
        names = ", ".join(sweep.mismatched)
        return self._declared_wrong(
            ctx, sweep,
            f"output(s) {names} keep {sweep.base} on an axis where they declare {sweep.dim}, "
            "while another of their axes follows it",
            f"{sweep.dim} declared on the axis that follows it",
            f"{names} declared with {sweep.dim} on an axis that keeps {sweep.base}",
            "The output's declaration names the dim on the wrong axis (or on more axes than "
            "follow it). Declare the axis that keeps its size with that size, or leave it "
            "unnamed; consumers that size buffers from the declaration get it wrong, and "
            "shape inference carries the wrong symbol into the graph where the output is "
            "read again.")

    def _declared_wrong(self, ctx: RuleContext, sweep: SweepRun, what: str, expected: str,
                        actual: str, advice: str) -> Finding:
        """A warning: the model runs at both sizes, only outputs' declarations are wrong."""
        return ctx.finding(
            self, None,
            f"the model runs at {sweep.dim}={sweep.base} and at {sweep.dim}={sweep.size}, but "
            f"{what} ({sweep.role} dim)",
            expected=expected, actual=actual, severity=Severity.WARNING, help=advice)

    def _finding(self, ctx: RuleContext, sweep: SweepRun, runs: int, fails: int,
                 where: NodeInfo | None, why: str, advice: str | None = None) -> Finding:
        label = f" in {where.op_type} {where.label!r}" if where is not None else ""
        baked = (f"A size of {sweep.dim} was written into the graph at export (a Reshape "
                 "target, an Expand or ConstantOfShape shape): export with the dim dynamic "
                 "(torch.onnx dynamic_shapes / dynamic_axes) or compute the shape from the "
                 "tensor (Shape -> Gather) instead of a constant.")
        recurrent = sweep.role in _RECURRENT_ROLES
        return ctx.finding(
            self, where,
            f"the model runs at {sweep.dim}={runs} but fails at {sweep.dim}={fails}{label} "
            f"({sweep.role} dim; {why})",
            expected=f"runs at every {sweep.dim} (declared dynamic)",
            actual=f"runs at {sweep.dim}={runs}, fails at {sweep.dim}={fails}",
            severity=None if recurrent else Severity.WARNING,
            help=advice or _fixed_state_help(ctx, sweep, where) or (baked if recurrent else (
                f"If {sweep.dim} takes only sizes of a kind (a multiple of a stride, a minimum), "
                f"give one with --dim {sweep.dim.split(' = ')[0]}=SIZE; if it takes any, "
                + baked[0].lower() + baked[1:])))


_KEPT_HELP = ("The output keeps the size the export traced where it declares the dim: the "
              "steps were written out at export (a Python loop over x.size(0), an LSTMCell "
              "or GRUCell called per step, a traced model's unrolled layer; AL317 names a "
              "recurrent chain). Export a native LSTM/GRU/RNN, script the loop so it becomes "
              "an ONNX Loop, or export at the length the model will run at and declare it.")


_CROSSED_HELP = ("The graph takes the batch's size for the sequence's (or the other way "
                 "round): a loop over x.shape[0] of a batch-major tensor, a Reshape or "
                 "Gather on the wrong axis. Its outputs' time axis then carries the batch "
                 "wherever it runs. tf2onnx 1.17 writes Keras 3's TimeDistributed so with a "
                 "dynamic time axis: apply the Dense to the sequence directly (it maps the "
                 "last axis) or export with a fixed length.")


def _kept(run: RuntimeRun, sweep: SweepRun) -> bool:
    """Whether every output the sweep found wrong keeps the main run's size on an axis that
    declares one of the swept dims: the graph ignores the dim (a loop unrolled at export),
    where the declaration says the output follows it."""
    names = set(sweep.dim.split(" = "))
    static = {check.name: check.static for check in run.outputs}
    for output in sweep.mismatched:
        shape, declared = sweep.shapes.get(output), static.get(output)
        if shape is None or declared is None or len(shape) != len(declared) or not any(
                isinstance(dim, str) and dim in names and size == sweep.base
                for dim, size in zip(declared, shape, strict=True)):
            return False
    return True


def _unchanged(run: RuntimeRun, sweep: SweepRun) -> bool:
    """Whether every output the sweep found wrong has the very shape it had in the main run:
    nothing in it follows the swept dim."""
    main = {check.name: check.shape for check in run.outputs}
    return all(sweep.shapes.get(name) == main.get(name) for name in sweep.mismatched)


# dims a recurrent layer's X runs over: any size of them must run
_RECURRENT_ROLES = ("seq", "batch")


def _fixed_state_help(ctx: RuleContext, sweep: SweepRun, where: NodeInfo | None) -> str | None:
    """The fix when the batch fails because a state input of the recurrent node onnxruntime
    names declares a fixed batch (dynamic axes given for x only; AL309 without a run)."""
    if sweep.role != "batch" or where is None:
        return None
    layer = next((lay for lay in ctx.layers if lay.node.id == where.id), None)
    if layer is None or not isinstance(layer.batch_dim, str) \
            or layer.batch_dim not in dynamic_symbols(ctx):  # AL309's own condition
        return None
    for slot in ("initial_h", "initial_c"):
        found = declared_state_batch(ctx, layer, slot, layer.batch_dim)
        if found is not None and isinstance(found.declared, int):
            return (f"Model input {found.root!r} gives {slot} a fixed batch of "
                    f"{found.declared}: {batch_fix(found, layer.batch_dim)} AL309 finds this "
                    "without a run.")
    return None
