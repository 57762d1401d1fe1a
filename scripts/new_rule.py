"""Create the files of a new rule (like ruff's scripts/add_rule.py).

Run: python scripts/new_rule.py AL123 some-slug [--severity warning] [--root DIR]

Writes rules/archlint_rules/al123_some_slug.py (a LayerRule skeleton whose docstring has the
three required sections), fixtures/AL123/good.onnx.txt and bad.onnx.txt (placeholder models
that parse), and prints the next steps. It never overwrites: an existing code or module is an
error (exit 2). ``--root`` points at another checkout (the test uses a temporary one).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_CODE = re.compile(r"^AL\d{3}$")
_SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

_MODULE = '''from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer


class {cls}(LayerRule):
    """TODO: one-line summary of the defect.

    ## What it does
    TODO: what is checked, in terms of D = num_directions, H = hidden_size, I = input size.

    ## Why is this bad?
    TODO: the equations (gates i, o, f, c; h_t = o_t ⊙ tanh(c_t)) and what a runtime does.

    ## Example
    TODO: the defect in fixtures/{code}/bad.onnx.txt and its fix in good.onnx.txt.
    """

    code = "{code}"
    name = "{slug}"
    severity = Severity.{severity}
    summary = "TODO: summary for `archlint rules`"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        # TODO: yield ctx.finding(self, layer, message, input=..., expected=..., actual=...,
        #       help=...) for each defect; an unknown shape means "cannot check": no finding.
        yield from ()
'''

_FIXTURE = '''# {code} {kind}: TODO say what is {what} in this model.
<ir_version: 8, opset_import: ["" : 17], producer_name: "archlint-fixture">
{code_lower}_{kind} (float[seq, batch, 2] X, float[1, 12, 2] W, float[1, 12, 3] R)
    => (float[seq, 1, batch, 3] Y)
{{
  [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R)
}}
'''


def create(root: Path, code: str, slug: str, severity: str) -> list[Path]:
    """Write the rule's files under root; returns them. Raises ValueError on a bad request."""
    if not _CODE.match(code):
        raise ValueError(f"code must look like AL123, got {code!r}")
    if not _SLUG.match(slug):
        raise ValueError(f"name must be a kebab-case slug such as 'some-slug', got {slug!r}")
    rules = root / "rules" / "archlint_rules"
    if not rules.is_dir():
        raise ValueError(f"{rules} is not a folder: is --root an archlint checkout?")
    taken = sorted(rules.glob(f"{code.lower()}_*.py"))
    if taken:
        raise ValueError(f"{code} is taken by {taken[0]}")
    fixtures = root / "fixtures" / code
    if fixtures.exists():
        raise ValueError(f"{fixtures} already exists")
    module = rules / f"{code.lower()}_{slug.replace('-', '_')}.py"
    cls = "".join(part.capitalize() for part in slug.split("-"))
    module.write_text(_MODULE.format(cls=cls, code=code, slug=slug,
                                     severity=severity.upper()), encoding="utf-8")
    fixtures.mkdir(parents=True)
    written = [module]
    for kind, what in (("good", "right"), ("bad", "wrong")):
        path = fixtures / f"{kind}.onnx.txt"
        path.write_text(_FIXTURE.format(code=code, code_lower=code.lower(), kind=kind,
                                        what=what), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code", help="rule code, e.g. AL123")
    parser.add_argument("slug", help="kebab-case name, e.g. hidden-size-missing")
    parser.add_argument("--severity", choices=("error", "warning", "info"), default="error")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the archlint checkout to write into (default: this one)")
    args = parser.parse_args(argv)
    try:
        written = create(args.root, args.code, args.slug, args.severity)
    except ValueError as error:
        print(f"new_rule.py: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"created {path}")
    print(f"""
Next steps:
  1. Write the check and the docstring (What / Why / Example) in {written[0].name}.
  2. Make fixtures/{args.code}/bad.onnx.txt show the defect and good.onnx.txt its fix.
  3. pytest tests/test_rule_fixtures.py --update-snapshots
     and read fixtures/{args.code}/expected.txt: it is the spec of the rule's output.
  4. python scripts/gen_rule_docs.py    (writes docs/rules/{args.code}.md)
  5. ruff check archlint rules tests scripts && mypy && pytest -q""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
