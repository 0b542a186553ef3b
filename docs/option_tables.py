"""Regenerate the option tables in README.md from the stages' option classes.

    python docs/option_tables.py          # rewrite README.md in place
    python docs/option_tables.py --check  # exit 1 if README.md is out of date

A table sits between ``<!-- options:STAGE -->`` and ``<!-- /options -->``;
tests/test_readme.py fails when a table no longer matches the code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- options:(?P<stage>[\w-]+) -->\n)(?P<body>.*?)(<!-- /options -->)", re.S)


def option_table(stage: str) -> str:
    """A markdown table of one registered stage's options."""
    from ingest.contract.options import describe_options
    from ingest.host.plugin_manager import PluginHost

    registered = PluginHost(load_entry_points=False).spec(stage)
    if registered is None:
        raise SystemExit(f"no stage {stage!r}")
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for option in describe_options(registered.spec.options):
        default = json.dumps(option["default"], ensure_ascii=False)
        meaning = (option["help"] or "").replace("|", "\\|")
        rows.append(f"| `{option['name']}` | `{default}` | {meaning} |")
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + option_table(m.group("stage")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if "--check" in argv:
        return 0 if updated == current else 1
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
