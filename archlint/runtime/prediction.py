"""Predicted against observed placement: do the target profiles still describe the runtime?

The runtime check observes where onnxruntime placed each recurrent node (its profiler rows), or
that it refused one (a kernel that failed at session creation, naming the node). The profile of
the first requested provider predicts the same thing from the static view alone
(``archlint.targets.placement.predict_placement``). A disagreement means the profile has gone
stale for the installed onnxruntime, and is itself a finding.

What is compared depends on what the profile describes:

- onnxruntime's own providers (``runtime = "onnxruntime"``: CPU, CUDA): the provider the node
  ran on, or a refusal, against ``Placement.provider`` (fallbacks included).
- a standalone parser or frontend that onnxruntime hosts as a provider (TensorRT, OpenVINO):
  onnxruntime turns the parser's refusal into a hand-off to the next provider, so only "on that
  provider or not" is compared, from the profiler rows; a failed session is not compared (the
  provider that failed is the next one, which the profile does not describe). OpenVINO's
  provider also keeps nodes off by its own operator table before the frontend sees them, so
  there only "predicted refused, yet ran on OpenVINO" is a disagreement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archlint.api import RuleContext
from archlint.recurrent import ACTIVATIONS_PER_DIRECTION, RecurrentLayer
from archlint.runtime.collector import node_named_in
from archlint.runtime.providers import CPU
from archlint.runtime.result import Placed, PredictionMismatch
from archlint.targets.placement import Placement, predict_placement
from archlint.targets.profile import Profile, ProfileError, load_profiles_with

__all__ = ["Mismatch", "compare_placement", "predict", "profile_for_provider"]

# The built-in target that describes each provider when it is requested first.
_TARGET_OF: Mapping[str, str] = {
    CPU: "onnxruntime-cpu",
    "CUDAExecutionProvider": "onnxruntime-cuda",
    "TensorrtExecutionProvider": "tensorrt",
    "OpenVINOExecutionProvider": "openvino",
}
# Providers whose own operator table decides placement before the profiled frontend sees a node.
_OWN_CAPABILITY_TABLE = frozenset({"OpenVINOExecutionProvider"})
# A session failure is a kernel's refusal only when onnxruntime was building kernels: shape
# inference and graph validation failures are model defects that other rules report.
_KERNEL_REFUSAL_MARKS = ("Exception during initialization", "Could not find an implementation")


@dataclass(frozen=True)
class Mismatch:
    """One recurrent node whose observed placement contradicts its profile's prediction."""

    layer: RecurrentLayer
    placement: Placement
    observed: str  # what the runtime did: "ran on CPUExecutionProvider"
    predicted: str  # what the profile said: a provider, or "a refusal by onnxruntime-cpu"
    actual: str  # the provider that ran it, or "a refusal at session creation"


@dataclass(frozen=True)
class Comparison:
    target: str
    compared: int
    mismatches: tuple[Mismatch, ...]


def profile_for_provider(provider: str, profiles: Mapping[str, Profile]) -> Profile | None:
    """The profile that describes ``provider``: the built-in target's name, else the only
    profile (e.g. one added with ``--profiles``) that names this provider."""
    name = _TARGET_OF.get(provider)
    if name is not None and name in profiles:
        return profiles[name]
    named = [p for p in profiles.values() if p.provider == provider]
    return named[0] if len(named) == 1 else None


def _reasons(placement: Placement) -> str:
    return ", ".join(m.entry.id for m in placement.reasons) or "no profile entry applies"


def compare_placement(
    layers: Sequence[RecurrentLayer],
    profile: Profile,
    profiles: Mapping[str, Profile],
    placed: Mapping[str, str],
    refused: str | None = None,
    failed_at_run: str | None = None,
) -> Comparison:
    """Compare each layer's prediction with what the runtime did.

    ``placed`` maps node labels (the name; ``<LSTM #3>`` for a node without one) to the
    provider that ran them (profiler rows); ``refused`` is the node a kernel refused at
    session creation; ``failed_at_run`` the node a failed run names. A run failure only
    confirms a predicted refusal: it may as well come from the inputs, so it never
    contradicts a prediction that the node runs. Nodes the runtime said nothing about (not
    executed, behind another node's failure, a name two nodes share) are not compared.
    """
    labels = Counter(layer.label for layer in layers)
    compared = 0
    mismatches: list[Mismatch] = []
    hosted = profile.runtime != "onnxruntime"
    for layer in layers:
        label = layer.label
        if labels[label] > 1:
            continue
        predicted = predict_placement(layer, profile, profiles)
        if hosted:
            if label not in placed:
                continue
            compared += 1
            ran_on = placed[label]
            on = ran_on == profile.provider
            predicted_on = predicted.provider == profile.provider
            if on == predicted_on or (predicted_on and profile.provider in _OWN_CAPABILITY_TABLE):
                continue
            mismatches.append(Mismatch(
                layer, predicted,
                observed=f"ran on {ran_on}" + ("" if on else
                                               f" (not on {profile.provider})"),
                predicted=(f"acceptance by {profile.name} (runs on {profile.provider})"
                           if predicted_on else f"a refusal by {profile.name} (handed to the "
                           "next provider)"),
                actual=ran_on))
            continue
        observed: str | None
        if label in placed:
            observed = placed[label]
        elif label == refused:
            if predicted.provider is not None and not _spec_valid(layer):
                continue  # refused for what the spec forbids (AL501 quotes why), where the
                # profile has no entry that refuses it: that says nothing about the profile
            observed = None
        elif label == failed_at_run and predicted.refused:
            compared += 1  # the predicted refusal, at run time
            continue
        else:
            continue
        compared += 1
        if predicted.disagreement(observed) is None:
            continue
        mismatches.append(Mismatch(
            layer, predicted,
            observed=f"ran on {observed}" if observed else "was refused at session creation",
            predicted=predicted.provider or f"a refusal by {predicted.landed_on}",
            actual=observed or "a refusal at session creation"))
    return Comparison(profile.name, compared, tuple(mismatches))


def _spec_valid(layer: RecurrentLayer) -> bool:
    """Whether the node's attributes are ones the ONNX spec allows, as far as a kernel checks
    them at session creation: a direction, a positive hidden_size, a layout of 0 or 1, a
    positive clip, and the activations' count for its directions."""
    directions = layer.num_directions
    hidden = layer.effective_hidden_size
    activations = layer.activations
    return directions is not None and (hidden is None or hidden > 0) \
        and layer.layout in (0, 1) and (layer.clip is None or layer.clip > 0) \
        and (activations is None
             or len(activations) == ACTIVATIONS_PER_DIRECTION[layer.op_type] * directions)


def runtime_version() -> str:
    """The installed onnxruntime's version (the parent imports onnxruntime already)."""
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - the runtime check does not start without it
        return "unknown"
    return str(onnxruntime.__version__)


def predict(main: Mapping[str, Any], ctx: RuleContext, providers: tuple[str, ...],
            profiles_folder: str | None, notes: list[str], ran: Sequence[Placed] = (),
            ) -> tuple[tuple[PredictionMismatch, ...], tuple[str, ...]]:
    """The main job's outcome against the first provider's profile: the mismatches, and the
    report line that sums the comparison up. ``ran``: the recurrent nodes the profile shows
    (archlint.runtime.placement), a node without a name included once it is matched."""
    try:
        profiles = load_profiles_with(profiles_folder)
    except ProfileError as exc:
        notes.append(f"placement not compared with the profiles: {exc}")
        return (), ()
    profile = profile_for_provider(providers[0], profiles)
    if profile is None:
        return (), (f"prediction: no target profile describes {providers[0]}; not compared",)
    status = main.get("status")
    placed: dict[str, str] = {}
    refused = failed_at_run = None
    if status == "ok":
        placed = {p.node.label: p.provider for p in ran if p.node is not None}
    elif status in ("session_failed", "run_failed"):
        message = str(main.get("error", ""))
        node = node_named_in(message, ctx.graph)
        name = node.label if node is not None else None
        if status == "run_failed":
            failed_at_run = name
        elif any(mark in message for mark in _KERNEL_REFUSAL_MARKS):
            refused = name
    else:
        return (), ()
    result = compare_placement(ctx.layers, profile, profiles, placed, refused, failed_at_run)
    version = runtime_version()
    mismatches = []
    for m in result.mismatches:
        first = m.placement.reasons[0].entry if m.placement.reasons else None
        mismatches.append(PredictionMismatch(
            m.layer, result.target, m.observed, m.predicted, m.actual, _reasons(m.placement),
            first.attribute if first is not None else None,
            first.input if first is not None else None, version))
    if not result.compared:
        return (), (f"prediction ({result.target}): no recurrent node observed; not compared",)
    agree = result.compared - len(result.mismatches)
    verdict = "agrees" if not result.mismatches else f"disagrees for {len(result.mismatches)}"
    return tuple(mismatches), (f"prediction ({result.target}): {verdict}; {agree} of "
                               f"{result.compared} observed recurrent node(s) as predicted",)
