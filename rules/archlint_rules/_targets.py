"""Shared by the deployment-target rules AL601-AL603: the selected targets and their verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import RuleContext
from archlint.recurrent import RecurrentLayer

if TYPE_CHECKING:  # the profiles are read only when a lint names a target
    from archlint.targets import EntryMatch, Placement


def placements(ctx: RuleContext, layer: RecurrentLayer) -> Iterator[Placement]:
    """One prediction per selected target; names no profile knows are skipped (the CLI and the
    configuration loader refuse them before a lint starts)."""
    from archlint.targets import load_profiles, predict_placement, targets_from_options

    profiles = load_profiles()
    for name in targets_from_options(ctx.options):
        if name in profiles:
            yield predict_placement(layer, profiles[name], profiles)


def quoted(match: EntryMatch) -> str:
    text = match.runtime_message
    return f' "{text}"' if text else ""


def provenance(match: EntryMatch) -> str:
    """Where the entry comes from, for the help line; versions only when narrower than the
    profile's (the profile's range is in docs/targets.md)."""
    from archlint.targets import load_profiles

    entry = match.entry
    profile = load_profiles()[entry.profile]
    versions = f"; {entry.versions}" if entry.versions != profile.versions else ""
    return f"(source: {entry.source}{versions})"
