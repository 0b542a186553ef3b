"""The header stage as users meet it: in a pipeline, through config and hooks."""

from __future__ import annotations

import datetime
import json

from ingest import Document, ExitCode, hookimpl


def test_seed_metadata_in_the_jsonl_output(tmp_path, ingest_cli, repo_root):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\npath = "{repo_root / "samples" / "seeds"}"\n[sink]\npath = "out"\n'
        '[[pipeline]]\nstage = "header"\n'
    )
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    docs = {
        d["id"]: d for d in map(json.loads, (tmp_path / "out" / "documents.jsonl").read_text().splitlines())
    }
    d000 = docs["000_0641a12947d22cdf.txt"]
    assert d000["metadata"]["date"] == "2025-07-07"
    assert "403" in json.dumps(d000["metadata"])
    assert not d000["text"].startswith(" date")
    assert d000["history"][0]["lines"][0]["rule"].startswith("header")
    assert d000["metadata"]["title"] == "Strained NATO Talks with Kiev Hit Stalemate"
    assert d000["metadata"]["outlet"] == "MENAFN"
    assert docs["002_3cbde2034b18dd31.txt"]["metadata"]["title"] == "NATO talks becoming toxic"
    assert docs["003_89fd1761f10742c4.txt"]["metadata"]["title"] == "NATO talk becoming toxic"
    assert docs["003_89fd1761f10742c4.txt"]["metadata"]["outlet"] == "Russia Today"
    assert docs["004_dcd211c25d3ab868.txt"]["metadata"]["title"].startswith("Ukraine")
    d001 = docs["001_2877f954cb6919f4.txt"]
    assert "title" not in d001["metadata"] and "date" not in d001["metadata"]
    assert d001["text"] == (repo_root / "samples" / "seeds" / "001_2877f954cb6919f4.txt").read_text()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["warnings"] == 0


def test_date_is_a_real_date_in_python(run_pipeline):
    result = run_pipeline([" date 2025-07-07 403\nTitle line\nBody text."], ["header"])
    doc = result.kept[0]
    assert doc.metadata["date"] == datetime.date(2025, 7, 7)
    assert doc.text == "Title line\nBody text."


def test_bad_header_is_a_warning_naming_file_and_line(run_pipeline):
    doc = Document("bad.txt", "date 2025-13-45 7\nSome title\nThe body goes on.")
    result = run_pipeline([doc], ["header"])
    kept = result.kept_by_id("bad.txt")
    assert "The body goes on." in kept.text
    assert result.report["warnings"] == 1
    assert result.report["stages"]["header"]["warnings"] == 1
    warning = result.ledger.warnings[0]
    assert warning.doc_id == "bad.txt" and warning.line == 1 and warning.stage == "header"
    assert "2025-13-45" in str(warning)


def test_header_format_added_by_a_plugin_hook(run_pipeline):
    class AtAtHeaders:
        __name__ = "atat"

        @hookimpl
        def ingest_parse_header_line(self, line, line_number):
            if line.startswith("@@ "):
                return dict(part.split("=", 1) for part in line[3:].split())
            return None

    result = run_pipeline(["@@ source=wire id=12\nHeadline here\nBody."], ["header"], plugins=[AtAtHeaders()])
    doc = result.kept[0]
    assert doc.metadata["source"] == "wire" and doc.metadata["id"] == "12"
    assert doc.text == "Headline here\nBody."


def test_header_format_added_by_config(run_pipeline):
    stage = {
        "stage": "header",
        "patterns": [
            {
                "regex": r"crawled (?P<crawled>\d{4}-\d\d-\d\d) status=(?P<status>\d+)",
                "types": {"crawled": "date", "status": "int"},
            }
        ],
    }
    result = run_pipeline(["crawled 2024-01-02 status=200\nTitle\nBody."], [stage])
    assert result.kept[0].metadata["crawled"] == datetime.date(2024, 1, 2)
    assert result.kept[0].metadata["status"] == 200


def test_bad_pattern_is_a_config_error(tmp_path, ingest_cli):
    config = tmp_path / "config.toml"
    config.write_text('[[pipeline]]\nstage = "header"\npatterns = [{regex = "(unclosed"}]\n')
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "[[pipeline]] #1 (id 'header')" in result.stderr and "patterns[0]" in result.stderr
