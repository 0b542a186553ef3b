"""The boilerplate stage as users meet it: config, pipeline, explain, lexicon files."""

from __future__ import annotations

import json
from pathlib import Path

from ingest import ExitCode, hookimpl

SEED_002 = "002_3cbde2034b18dd31.txt"
SEED_004 = "004_dcd211c25d3ab868.txt"


def seed_lines(seeds_dir: Path, name: str) -> list[str]:
    return (seeds_dir / name).read_text(encoding="utf-8").split("\n")


def run_sample(tmp_path: Path, ingest_cli, repo_root: Path) -> dict[str, dict]:
    """Header and boilerplate over the seeds (no dedup: it would drop 002 or 003)."""
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\npath = "{repo_root / "samples" / "seeds"}"\n'
        '[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "boilerplate"\n'
    )
    result = ingest_cli("run", "-c", str(config), "--output", str(out))
    assert result.exit_code == 0, result.stderr
    return {d["id"]: d for d in map(json.loads, (out / "documents.jsonl").read_text().splitlines())}


def test_sample_pipeline_cleans_the_seeds(tmp_path, ingest_cli, repo_root, seeds_dir):
    docs = run_sample(tmp_path, ingest_cli, repo_root)
    d004 = docs[SEED_004]["text"].split("\n")
    lines = seed_lines(seeds_dir, SEED_004)
    for number in (5, 15, 23, 33, 35):  # the dateline paragraph and section headings stay
        assert lines[number - 1] in d004
    for number in (29, 37, 39, 41):  # Also Read links, SEO keywords, Recent News go
        assert lines[number - 1] not in d004
    removed = {entry["line"]: entry["rule"] for entry in docs[SEED_004]["history"][-1]["lines"]}
    assert {29, 37, 39, 41} <= set(removed) and all(removed.values())
    d002 = docs[SEED_002]["text"]
    assert "Related Articles" not in d002 and "Taurus" not in d002 and "Comments" not in d002
    assert "Tikhy lamented" in d002
    d003 = docs["003_89fd1761f10742c4.txt"]["text"]
    assert d003.startswith("Discussions with the West about NATO membership") and "DOWNLOAD" not in d003


def test_explain_shows_removed_lines_with_rules(tmp_path, ingest_cli, repo_root):
    run_sample(tmp_path, ingest_cli, repo_root)
    result = ingest_cli("explain", SEED_004, "--output", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert "[boilerplate] removed_lines" in result.stdout
    assert "Also Read | White House" in result.stdout
    assert "+ Opposition Within NATO" in result.stdout


def test_two_pass_lexicon_learns_recurring_lines_and_saves_them(tmp_path, run_pipeline):
    footer = ["Share this story", "Sign up for our newsletter today"]
    bodies = [
        f"Story number {i} begins with a long first sentence about the city council and its plans for the year. "
        f"The council met on Tuesday and voted on item {i}, which drew a large crowd of residents to the hall."
        for i in range(6)
    ]
    items = [
        {"id": f"d{i}", "text": "\n".join([body, *footer]), "metadata": {"outlet": "Gazette"}}
        for i, body in enumerate(bodies)
    ]
    lexicon_file = tmp_path / "lexicon.jsonl"
    result = run_pipeline(
        items,
        [
            {
                "stage": "boilerplate",
                "learn_lexicon": True,
                "save_lexicon": str(lexicon_file),
                "disabled_rules": ["promo", "link_phrase", "ui_chrome"],
            }
        ],
    )
    for doc in result.kept:
        assert "Sign up for our newsletter today" not in doc.text
        assert "council" in doc.text
    saved = [json.loads(line) for line in lexicon_file.read_text().splitlines()]
    entries = [e for e in saved if "line" in e]
    assert any(e["line"].startswith("sign up for our newsletter") and e["documents"] == 6 for e in entries)
    # A later run applies the saved file without a first pass.
    later = run_pipeline(
        [{"id": "new", "text": "\n".join([bodies[0], *footer])}],
        [
            {
                "stage": "boilerplate",
                "lexicon_path": str(lexicon_file),
                "disabled_rules": ["promo", "link_phrase", "ui_chrome"],
            }
        ],
    )
    rules = {entry["text"]: entry["rule"] for entry in later.kept[0].history[-1].details["lines"]}
    assert rules["Sign up for our newsletter today"] == "lexicon"


def test_plugin_rule_through_the_hook(run_pipeline):
    class NoTickers:
        __name__ = "no-tickers"

        @hookimpl
        def ingest_boilerplate_rules(self):
            class TickerRule:
                name = "ticker"

                def __call__(self, page):
                    return [i for i, line in enumerate(page.lines) if line.startswith("$") and line.isupper()]

            return [TickerRule()]

    text = (
        "The market opened higher on Monday as investors weighed fresh data on inflation and jobs.\n"
        "$AAPL +1.2% $MSFT -0.4%\n"
        "Analysts said the rally could continue if the central bank holds rates steady next month.\n"
        "Bond yields fell for a third day, and the dollar slipped against most of the major currencies."
    )
    result = run_pipeline([text], ["boilerplate"], plugins=[NoTickers()])
    doc = result.kept[0]
    assert "$AAPL" not in doc.text
    assert {"line": 2, "text": "$AAPL +1.2% $MSFT -0.4%", "rule": "ticker"} in doc.history[-1].details[
        "lines"
    ]
    assert "Bond yields fell" in doc.text


def test_all_furniture_document_is_dropped_with_a_reason(run_pipeline):
    result = run_pipeline(
        ["\n  \n\t\n", "A line of real article text that stays where it is."], ["boilerplate"]
    )
    assert result.why_dropped() == {"doc-0": "boilerplate:no_content"}
    kept = run_pipeline(["\n  \n\t\n"], [{"stage": "boilerplate", "drop_empty": False}])
    assert kept.kept_ids == ["doc-0"] and kept.kept[0].text == ""


def test_unknown_rule_name_stops_check(tmp_path, ingest_cli):
    config = tmp_path / "config.toml"
    config.write_text(
        '[source]\npath = "."\n[[pipeline]]\nstage = "boilerplate"\ndisabled_rules = ["lexicom"]\n'
    )
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "(id 'boilerplate')" in result.stderr and "unknown rule(s) 'lexicom'" in result.stderr


def test_explain_previews_an_option_change_on_one_document(tmp_path, ingest_cli, repo_root):
    run_sample(tmp_path, ingest_cli, repo_root)
    result = ingest_cli(
        "explain",
        SEED_004,
        "-c",
        str(tmp_path / "config.toml"),
        "--set",
        'boilerplate.disabled_rules=["link_phrase"]',
    )
    assert result.exit_code == 0, result.stderr
    assert "newly kept lines: 2" in result.stdout
    assert "(was link_phrase) Also Read | White House" in result.stdout


def test_explain_reads_compressed_and_sharded_outputs(tmp_path, ingest_cli, repo_root):
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\npath = "{repo_root / "samples" / "seeds"}"\n'
        '[sink]\ncompression = "gzip"\nshard_bytes = 4000\n'
        '[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "boilerplate"\n[[pipeline]]\nstage = "dedup"\n'
    )
    assert ingest_cli("run", "-c", str(config), "--output", str(out)).exit_code == 0
    assert len(list(out.glob("documents-*.jsonl.gz"))) > 1 and not (out / "documents.jsonl").exists()
    kept = ingest_cli("explain", SEED_004, "--output", str(out))
    assert kept.exit_code == 0, kept.stderr
    assert "KEPT" in kept.stdout and "Also Read | White House" in kept.stdout
    dropped = ingest_cli("explain", SEED_002, "--output", str(out))
    assert dropped.exit_code == 0 and "DROPPED" in dropped.stdout and "duplicate of" in dropped.stdout
    # Unknown ids still get suggestions from the shards.
    missing = ingest_cli("explain", SEED_004[:-6] + ".txt", "--output", str(out))
    assert missing.exit_code != 0 and SEED_004 in missing.stdout + missing.stderr
