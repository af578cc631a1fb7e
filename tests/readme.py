"""What the README shows a user, read from the README itself: its YAML blocks, the commands after `$ `
in its shell blocks and the output printed under them.  Shared by the fast README test and the test that
applies the README's example to the real stack."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "deploy" / "examples"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(lang: str, text: str | None = None) -> list[str]:
    """The README's fenced blocks of one language, each with its final newline."""
    text = README.read_text() if text is None else text
    return [body for kind, body in _FENCE.findall(text) if kind == lang]


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def shown_output(command: str, text: str | None = None) -> list[str]:
    """The lines the README prints under `$ command` in a console block, up to the next `$ ` line."""
    for block in blocks("console", text):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line == f"$ {command}":
                out = []
                for after in lines[i + 1:]:
                    if after.startswith("$ "):
                        break
                    out.append(after)
                return out
    raise AssertionError(f"the README shows no `$ {command}`")
