"""Where a recurrent node will run on a target, predicted from the profiles alone.

``predict_placement(layer, "onnxruntime-cuda")`` follows what the runtime does: first its
placement decision (onnxruntime's CUDA provider hands an LSTM with ``clip`` to the CPU provider:
a ``fallback`` entry), then the kernel that receives the node (which may refuse it: a
``refused`` entry of *that* target's profile). The runtime path (``archlint run``) compares the
provider it observes with ``Placement.provider``; a disagreement means a profile has gone stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from archlint.recurrent import RecurrentLayer
from archlint.targets.profile import EntryMatch, Profile, load_profiles, resolve_targets

__all__ = ["Placement", "predict_placement"]


@dataclass(frozen=True)
class Placement:
    """The predicted fate of one recurrent node on one target.

    ``requested`` is the provider the target asks for (``CUDAExecutionProvider``); ``provider``
    is where the node is expected to execute, or None when the runtime refuses it
    (``refused_by`` names the target whose kernel or parser refuses it). ``reasons`` holds every
    profile entry that applies, in the order the runtime meets them: fallbacks first, then the
    refusal or the documented differences of the target where the node lands.
    """

    target: str
    node: str
    requested: str
    provider: str | None
    landed_on: str  # the target whose profile describes the provider that runs (or refuses) it
    reasons: tuple[EntryMatch, ...]

    @property
    def refused(self) -> bool:
        return self.provider is None

    @property
    def refused_by(self) -> str | None:
        return self.landed_on if self.refused else None

    @property
    def fell_back(self) -> bool:
        return self.landed_on != self.target

    @property
    def miscomputed(self) -> bool:
        return any(m.entry.kind == "miscomputed" for m in self.reasons)

    def disagreement(self, observed: str | None) -> str | None:
        """Compare with what a runtime did; None when it agrees, else a one-line report.

        ``observed`` is the provider the runtime assigned the node to, or None when it refused
        the node (the session or the run failed on it). A disagreement means the profile no
        longer describes the runtime in use: the runtime path reports it as a finding.
        """
        if observed == self.provider:
            return None
        predicted = self.provider or f"a refusal by {self.landed_on}"
        actual = observed or "a refusal"
        why = ", ".join(m.entry.id for m in self.reasons) or "no profile entry applies"
        return (f"profile {self.target} predicted {predicted} for {self.node} ({why}), but the "
                f"runtime gave {actual}: the profile does not describe this runtime version "
                "(see docs/targets.md)")


def predict_placement(
    layer: RecurrentLayer,
    target: str | Profile,
    profiles: Mapping[str, Profile] | None = None,
) -> Placement:
    """Predict where ``layer`` runs on ``target`` and why (a pure function of view and profiles).

    Raises UnknownTargetError for a target name no profile describes.
    """
    table = profiles if profiles is not None else load_profiles()
    start = target if isinstance(target, Profile) else (
        table[target] if target in table else resolve_targets([target])[0])
    reasons: list[EntryMatch] = []
    current = start
    while True:
        handed_off = current.matches(layer, ("fallback",))
        if handed_off and current.fallback is not None:
            reasons.extend(handed_off)
            current = table[current.fallback]
            continue
        refused = current.matches(layer, ("refused",))
        others = current.matches(layer, ("miscomputed", "differs"))
        return Placement(
            target=start.name,
            node=layer.label,
            requested=start.provider,
            provider=None if refused else current.provider,
            landed_on=current.name,
            reasons=tuple(reasons + (refused or others)),
        )
