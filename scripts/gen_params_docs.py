"""Refresh the real command output quoted in docs/params.md.

Each quoted output follows a marker comment naming the command, e.g.

    <!-- output: archlint params fixtures/exported/lstm_4_2.onnx --format csv -->
    ```text
    ...replaced by the command's output...
    ```

``<!-- json-layer: archlint params MODEL -->`` quotes the first layer of the JSON report.
Commands run in-process from the repository root.

Run: python scripts/gen_params_docs.py          (rewrites docs/params.md)
     python scripts/gen_params_docs.py --check  (exit 1 when it is out of date)
tests/test_params_cli.py runs the check, so the docs cannot drift from the code.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner
from docgen import write_or_check

from archlint.cli import cli

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "params.md"
_BLOCK = re.compile(
    r"(<!-- (output|json-layer): archlint (?P<args>[^>]*?) -->\n```[a-z]*\n)(.*?)(```)", re.S
)


def _run(args: str) -> str:
    result = CliRunner().invoke(cli, shlex.split(args), catch_exceptions=False)
    return result.stdout


def render(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        output = _run(match.group("args"))
        if match.group(2) == "json-layer":
            layer = json.loads(output)["models"][0]["layers"][0]
            output = json.dumps(layer, indent=2) + "\n"
        return match.group(1) + output + match.group(5)

    return _BLOCK.sub(replace, text)


def main(argv: list[str]) -> int:
    os.chdir(REPO)
    fresh = render(DOC.read_text(encoding="utf-8"))
    return write_or_check({DOC: fresh}, argv, "scripts/gen_params_docs.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
