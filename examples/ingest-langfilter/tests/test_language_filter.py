"""The ``language_filter`` stage in a pipeline, as a user configures it."""

from __future__ import annotations

import importlib.metadata

import ingest_langfilter
import pytest

from samples import SAMPLES

PLUGINS = [ingest_langfilter]


def test_keeps_allowed_languages_and_says_why_others_were_dropped(run_pipeline):
    items = [{"id": code, "text": text} for code, text in SAMPLES.items()]
    result = run_pipeline(items, [{"stage": "language_filter", "languages": ["en", "de"]}], plugins=PLUGINS)
    result.assert_kept("en", "de", only=True)
    record = result.assert_dropped(
        "fr",
        stage="language_filter",
        reason="language_not_allowed",
        details={"language": "fr", "allowed": ["de", "en"]},
    )
    assert record.details["score"] > 0.3 and record.details["words"] > 20
    assert result.report["dropped_by_stage_and_reason"] == {"language_filter:language_not_allowed": 5}


def test_kept_documents_get_metadata_and_history(run_pipeline):
    result = run_pipeline(
        [{"id": "nl", "text": SAMPLES["nl"]}],
        [{"stage": "language_filter", "languages": ["nl"]}],
        plugins=PLUGINS,
    )
    [doc] = result.assert_kept("nl")
    assert doc.metadata["language"] == "nl"
    [event] = doc.history
    assert event.action == "detected_language" and event.details["language"] == "nl"


def test_metadata_key_can_be_changed_or_turned_off(run_pipeline):
    stage = {"stage": "language_filter", "metadata_key": "lang"}
    assert run_pipeline([SAMPLES["en"]], [stage], plugins=PLUGINS).kept[0].metadata == {"lang": "en"}
    stage["metadata_key"] = ""
    assert run_pipeline([SAMPLES["en"]], [stage], plugins=PLUGINS).kept[0].metadata == {}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("The bridge opens in spring.", "too_few_words"),
        (
            ", ".join(
                ["apple", "banana", "cherry", "grape", "melon", "lemon", "lime", "kiwi", "mango", "papaya"]
                * 3
            ),
            "too_few_stop_words",
        ),
        (
            "de la de la en el de la que en la de el la que en de la los del que la en de el la de",
            "ambiguous",
        ),
    ],
    ids=["short", "list", "ambiguous"],
)
def test_undetermined_documents_are_dropped_with_the_numbers(run_pipeline, text, why):
    result = run_pipeline([{"id": "x", "text": text}], ["language_filter"], plugins=PLUGINS)
    record = result.assert_dropped("x", reason="language_undetermined", details={"why": why})
    assert {"best_guess", "score", "confidence", "words"} <= set(record.details)


def test_keep_undetermined_keeps_them_with_a_history_event(run_pipeline):
    result = run_pipeline(
        [{"id": "short", "text": "Too short."}],
        [{"stage": "language_filter", "keep_undetermined": True}],
        plugins=PLUGINS,
    )
    [doc] = result.assert_kept("short")
    assert doc.history[0].action == "language_undetermined" and "language" not in doc.metadata


def test_thresholds_are_options(run_pipeline):
    stage = {"stage": "language_filter", "languages": ["fr"], "min_words": 3, "min_confidence": 0.0}
    result = run_pipeline([{"id": "fr", "text": "Le pont et la ville."}], [stage], plugins=PLUGINS)
    result.assert_kept("fr")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("languages", ["en", "xx"], "languages: unknown language 'xx'; known: de (German), en (English)"),
        ("languages", [], "languages: give at least one language"),
        ("min_confidence", 1.5, "min_confidence: must be between 0 and 1, got 1.5"),
        ("min_wordz", 3, "unknown option 'min_wordz' (did you mean 'min_words'?)"),
    ],
)
def test_bad_options_are_config_errors_naming_file_table_and_option(ingest_run, option, value, message):
    config = {
        "plugins": {"modules": ["ingest_langfilter"]},
        "pipeline": [{"stage": "language_filter", option: value}],
    }
    result = ingest_run(config, corpus={"a.txt": SAMPLES["en"]})
    assert result.exit_code == 2
    assert "config.toml: [[pipeline]] #1 (id 'language_filter')" in result.stderr
    assert message in result.stderr


def test_a_run_from_files_writes_the_reasons_to_dropped_jsonl(ingest_run):
    corpus = {f"{code}.txt": text for code, text in SAMPLES.items()}
    config = {
        "plugins": {"modules": ["ingest_langfilter"]},  # also found by its entry point once installed
        "pipeline": [{"stage": "language_filter", "id": "lang", "languages": ["es", "pt"]}],
    }
    result = ingest_run(config, corpus=corpus)
    assert result.exit_code == 0, result.stderr
    kept = result.assert_kept("es.txt", "pt.txt", only=True)
    assert [doc["metadata"]["language"] for doc in kept] == ["es", "pt"]
    result.assert_dropped("it.txt", stage="lang", reason="language_not_allowed", details={"language": "it"})


def test_installed_package_registers_the_entry_point():
    try:
        dist = importlib.metadata.distribution("ingest-langfilter")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("ingest-langfilter is not installed (running from a checkout)")
    [entry_point] = [ep for ep in dist.entry_points if ep.group == "ingest.plugins"]
    assert entry_point.load() is ingest_langfilter
