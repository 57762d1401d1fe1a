"""``archlint rules`` and ``archlint explain``: the installed rules and their documentation."""

from __future__ import annotations

import json

import click

from archlint import app
from archlint.cli.options import UsageFailure, app_errors

__all__ = ["explain_command", "rules_command"]


@click.command(name="rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def rules_command(output_format: str) -> None:
    """List every rule: code, name, default severity, summary, origin."""
    with app_errors():
        ruleset = app.rules()
    rows = [(r.code, r.name, r.severity.value, ruleset.origin[r.code], r.summary)
            for r in ruleset.rules]
    if output_format == "json":
        keys = ("code", "name", "severity", "origin", "summary")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        click.echo("  ".join(cells) + "  " + row[4])


@click.command(name="explain")
@click.argument("code")
def explain_command(code: str) -> None:
    """Show a rule's documentation: what it does, why it matters, an example."""
    with app_errors():
        rule = app.rules().by_code(code)
    if rule is None:
        raise UsageFailure(f"unknown rule code {code!r} (see `archlint rules`)")
    click.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n")
    click.echo(rule.documentation())
