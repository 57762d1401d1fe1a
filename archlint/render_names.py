"""The one function that makes a name (or any text holding names) safe to print.

Node, tensor, input, output, metadata and file names come from the model or the file system,
and a hostile one reaches a terminal or a CI log through every output format: an ESC sequence
clears the screen, sets the window title or writes the clipboard (OSC 52); NUL, BEL, CR and
the other C0/C1 controls and the bidi overrides make a line read differently from what it
holds; a newline followed by ``::error`` or ``::add-mask::`` (or a name that itself starts a
line with ``::``, or holds the legacy ``##[`` anywhere) forges a GitHub Actions workflow
command. Every renderer passes names, and the messages built from them, through
:func:`safe_text`, so that no output line can start a workflow command or carry a control
character, while a name stays recognisable: ``\\x1b``, ``\\n``, ``\\u202e``.

A file name that is not valid UTF-8 reaches Python as surrogate escapes (PEP 383); they are
shown as the byte they stand for (``\\xff``), so every format can be encoded.
Machine formats (JSON, SARIF, the baseline) keep names exact, but use :func:`encodable` so
that such a file name cannot make the whole report unwritable.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["encodable", "json_text", "safe_text"]

# C0 and C1 controls, DEL, the bidi embeddings/overrides/isolates and marks, the Unicode line
# and paragraph separators, BOM / zero-width no-break space, the interlinear annotation
# characters, and every surrogate (lone ones come from undecodable file names).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# GitHub's runner trims a line and reads ``::command`` at its start; the legacy form ``##[``
# is read anywhere in a line.
_LEGACY = "##["
_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # surrogateescape: undecodable byte 0x80..0xff


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every control, bidi and surrogate character escaped, the legacy workflow
    command marker ``##[`` broken and a leading ``::`` escaped. Idempotent."""
    escaped = _UNSAFE.sub(_escape, text)
    if _LEGACY in escaped:
        escaped = escaped.replace(_LEGACY, "##\\[")
    stripped = escaped.lstrip()
    if stripped.startswith("::"):
        escaped = escaped[: len(escaped) - len(stripped)] + "\\" + stripped
    return escaped


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """``text`` unchanged unless it holds lone surrogates (an undecodable file name): those
    become the ``\\xNN`` of their byte, so the text encodes as UTF-8."""
    if _SURROGATE.search(text) is None:  # one scan in C, not a Python loop per character
        return text
    return _SURROGATE.sub(_escape, text)


def _encodable_data(value: Any) -> Any:
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {_encodable_data(k): _encodable_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable_data(v) for v in value]
    return value


def json_text(data: Any) -> str:
    """``data`` as indented JSON that is safe in a CI log and for strict parsers. Names stay
    exact, except a lone surrogate (an undecodable file name), which becomes the text ``\\xNN``
    of its byte. ``ensure_ascii`` escapes every control and bidi character, and ``##[``, which
    only a string can hold, is written ``##\\u005b``: the same value, not a workflow command."""
    return json.dumps(_encodable_data(data), indent=2).replace(_LEGACY, "##\\u005b") + "\n"
