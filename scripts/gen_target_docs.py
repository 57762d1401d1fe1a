"""Generate the profile reference in docs/targets.md from archlint/targets/profiles/*.toml.

Run: python scripts/gen_target_docs.py          (rewrites the generated part of the page)
     python scripts/gen_target_docs.py --check  (exit 1 when it is out of date)
Only the text between the BEGIN/END markers is generated; the rest of the page is written by
hand. tests/test_targets.py runs the check, so the page cannot drift from the profiles.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docgen import write_or_check

from archlint.targets import load_profiles
from archlint.targets.conditions import render
from archlint.targets.fields import FIELDS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "targets.md"
BEGIN = "<!-- BEGIN GENERATED PROFILES (scripts/gen_target_docs.py) -->"
END = "<!-- END GENERATED PROFILES -->"
RULE_OF_KIND = {"refused": "AL601 error", "miscomputed": "AL601 error",
                "fallback": "AL602 warning", "differs": "AL603 warning"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_reference() -> str:
    lines = [BEGIN, ""]
    for profile in load_profiles().values():
        lines += [
            f"### `{profile.name}`", "",
            f"{profile.summary}", "",
            f"- runtime: {profile.runtime}; provider asked for: `{profile.provider}`",
            f"- versions: {profile.versions}",
            f"- read from: {profile.source}",
        ]
        if profile.fallback:
            lines.append(f"- a `fallback` entry hands the node to `{profile.fallback}`; cost: "
                         f"{profile.fallback_cost}")
        lines += ["", "| entry | finding | ops | when | stage | runtime message | source |",
                  "|---|---|---|---|---|---|---|"]
        for e in profile.entries:
            message = e.message or ""
            for op, text in sorted(e.message_by_op.items()):
                message += f" ({op}: {text})"
            versions = "" if e.versions == profile.versions else f" Versions: {e.versions}."
            lines.append(
                f"| `{e.id}` | {RULE_OF_KIND[e.kind]} ({e.kind}) | {', '.join(sorted(e.ops))} "
                f"| `{_cell(render(e.when))}` | {_cell(e.stage)} "
                f"| {_cell(message) and '`' + _cell(message.strip()) + '`'} "
                f"| {_cell(e.source)}.{_cell(versions)} |")
        lines.append("")
    lines += ["### Fields a condition may read", "",
              "| field | kind | meaning |", "|---|---|---|"]
    lines += [f"| `{f.name}` | {f.kind} | {_cell(f.doc)} |" for f in FIELDS.values()]
    lines += ["", END]
    return "\n".join(lines)


def updated_page(page: str) -> str:
    start, end = page.index(BEGIN), page.index(END) + len(END)
    return page[:start] + render_reference() + page[end:]


def main(argv: list[str]) -> int:
    new = updated_page(PAGE.read_text(encoding="utf-8"))
    return write_or_check({PAGE: new}, argv, "scripts/gen_target_docs.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
