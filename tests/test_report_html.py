"""report.html: a run's output folder as one self-contained page.

The runs are real: the CLI runs a local plugin file over copies of the seed
corpus, and the page is checked against what the run wrote.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ingest.report.report_html import iter_jsonl, main, render_html, write_html_report

# A local plugin: a stage that removes lines (recording them with their
# rules, next to another kind of history event), a filter, and a duplicate
# stage used twice (exact, then "near") so that duplicate chains happen.
REPORT_PLUGIN = r'''
import hashlib
import re

import attrs
from ingest import Drop, StageKind, StageSpec, hookimpl


@attrs.define
class StripOptions:
    min_chars: int = 25


def strip_lines(options, ctx):
    def process(doc):
        kept, removed = [], []
        for number, line in enumerate(doc.text.split("\n"), start=1):
            if "<" in line or "&" in line:
                removed.append({"line": number, "text": line, "rule": "markup"})
            elif number > 2 and len(line.strip()) < options.min_chars:
                removed.append({"line": number, "text": line, "rule": "blank" if not line.strip() else "short_line"})
            else:
                kept.append(line)
        doc = doc.with_event(ctx.stage_id, "parsed_header", title=kept[1] if len(kept) > 1 else "")
        if "warn-me" in doc.text:
            ctx.warn("odd <header> & stuff", doc=doc, line=1)
        if removed:
            doc = attrs.evolve(doc, text="\n".join(kept)).with_event(ctx.stage_id, "removed_lines", lines=removed)
        return doc
    return process


@attrs.define
class MinWordsOptions:
    min_words: int = 20


def min_words(options, ctx):
    def process(doc):
        if len(doc.text.split()) < options.min_words:
            return Drop("too_few_words", details={"words": len(doc.text.split())})
        return doc
    return process


@attrs.define
class DupOptions:
    prefix: int = 0          # 0: compare whole texts; n: the first n normalised characters
    method: str = "sha1"


class Dups:
    """The first copy seen survives; later ones are dropped as its duplicates."""

    def __init__(self, options, ctx):
        self.options, self.ctx, self.seen = options, ctx, {}

    def __call__(self, docs):
        for doc in docs:
            text = doc.text if not self.options.prefix else re.sub(r"\W+", " ", doc.text.lower())[: self.options.prefix]
            key = hashlib.sha1(text.encode()).hexdigest()
            if key in self.seen:
                self.ctx.drop(
                    doc, "near_duplicate" if self.options.prefix else "exact_duplicate",
                    duplicate_of=self.seen[key], similarity=0.9 if self.options.prefix else 1.0,
                    method=self.options.method,
                )
            else:
                self.seen[key] = doc.id
                yield doc


@hookimpl
def ingest_stages():
    return [
        StageSpec("strip_lines", StageKind.BOILERPLATE, strip_lines, StripOptions, "remove lines", per_document=True),
        StageSpec("min_words_t", StageKind.FILTER, min_words, MinWordsOptions, "drop short docs", per_document=True),
        StageSpec("dups_t", StageKind.DEDUP, Dups, DupOptions, "drop duplicates"),
    ]
'''

CONFIG = """
[plugins]
paths = ["report_plugin.py"]
[source]
path = "in"
[sink]
path = "out"
[[pipeline]]
stage = "strip_lines"
[[pipeline]]
stage = "min_words_t"
[[pipeline]]
stage = "dups_t"
id = "exact"
[[pipeline]]
stage = "dups_t"
id = "near"
prefix = 300
method = "minhash"
"""

# Text that must come out as text, never as markup.
NASTY_NAME = "x<b>&'q'.txt"
NASTY_TEXT = (
    "date 2025-01-01\nA nasty title\n"
    + "Body text with plenty of words to keep this document alive through the filter stage. " * 3
    + "\n<script>alert(1)</script>\n</textarea><img src=x onerror=alert(2)>\n"
    + "\"quotes\" 'single' \u00e9\u00e8 \U0001f600 & \u2028 sep ]]> <!-- -->\nshort\n"
)


def make_run_inputs(folder: Path, seeds_dir: Path) -> None:
    """The seeds, plus copies that make duplicate clusters (one of them a
    chain: exact copy -> near copy -> seed), a short document (dropped, and
    warned about), an empty file (dropped by the source) and a document
    whose name and lines are HTML."""
    folder.mkdir(parents=True)
    seeds = sorted(seeds_dir.glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in seeds]
    for path, text in zip(seeds, texts):
        (folder / path.name).write_text(text, encoding="utf-8")
    (folder / f"{seeds[0].stem}_copy1.txt").write_text(texts[0], encoding="utf-8")
    v2 = texts[1].rsplit("\n", 2)[0] + "\nA different ending paragraph, long enough to stay in the text."
    (folder / f"{seeds[1].stem}_v2.txt").write_text(v2, encoding="utf-8")
    (folder / f"{seeds[1].stem}_v2_copy.txt").write_text(v2, encoding="utf-8")
    for k in range(3):
        (folder / f"{seeds[3].stem}_n{k}.txt").write_text(
            texts[3] + f"\nUpdate number {k}: something changed at the end of the story here.",
            encoding="utf-8",
        )
    (folder / "tiny.txt").write_text("too short warn-me", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / NASTY_NAME).write_text(NASTY_TEXT, encoding="utf-8")
    (folder / NASTY_NAME.replace(".txt", "_copy.txt")).write_text(NASTY_TEXT, encoding="utf-8")


def build_run(tmp_path: Path, seeds_dir: Path, ingest_cli: Any, *extra: str) -> Path:
    """Run the CLI over the inputs above; return the output folder."""
    make_run_inputs(tmp_path / "in", seeds_dir)
    (tmp_path / "report_plugin.py").write_text(REPORT_PLUGIN, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    result = ingest_cli("run", "-c", str(config), *extra)
    assert result.exit_code == 0, result.stderr
    return tmp_path / "out"


class PageParser(HTMLParser):
    """Collects every tag with its attributes, and the text of elements with an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in ("meta", "br", "rect", "line", "path") or attributes.get("id"):
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text_by_id[attributes["id"]] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data

    def with_attr(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.tags if name in attrs]


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture
def run_output(tmp_path: Path, seeds_dir: Path, ingest_cli: Any) -> Path:
    return build_run(tmp_path, seeds_dir, ingest_cli)


def load(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, list(iter_jsonl(out / "dropped.jsonl")), list(iter_jsonl(out / "documents.jsonl"))


def test_headline_numbers_match_the_report(run_output: Path) -> None:
    path = write_html_report(run_output)
    assert path == run_output / "report.html"
    report, _, _ = load(run_output)
    page = parse(path.read_text(encoding="utf-8"))
    text = page.text_by_id
    assert report["input"] == 15 and report["kept"] + report["dropped"] == report["input"]
    assert text["total-input"] == str(report["input"])
    assert text["total-kept"] == str(report["kept"])
    assert text["total-dropped"] == str(report["dropped"])
    assert text["total-warnings"] == str(report["warnings"]) == "1"
    assert text["meta-version"] == report["ingest_version"]
    assert text["meta-config"] == report["config"]
    assert text["meta-started"] == report["started"] and text["meta-finished"] == report["finished"]
    assert float(page.with_attr("data-seconds")[0]["data-seconds"]) == report["seconds"]
    # Every file agrees with the report: no alert on the page.
    assert not [a for _, a in page.tags if a.get("class") == "alert"]


def test_counts_per_stage_and_reason(run_output: Path) -> None:
    report, _, _ = load(run_output)
    page = parse(write_html_report(run_output).read_text(encoding="utf-8"))
    cells = {(a["data-stage"], a["data-reason"]) for a in page.with_attr("data-reason")}
    expected = {(stage, reason) for stage, stats in report["stages"].items() for reason in stats["dropped"]}
    assert (
        cells
        == expected
        == {
            ("source", "empty"),
            ("min_words_t", "too_few_words"),
            ("exact", "exact_duplicate"),
            ("near", "near_duplicate"),
        }
    )
    html_text = (run_output / "report.html").read_text(encoding="utf-8")
    for stage, stats in report["stages"].items():
        for reason, count in stats["dropped"].items():
            assert f'data-stage="{stage}" data-reason="{reason}">{count}<' in html_text
    # The flow chart and the timings chart are there, one bar per stage.
    ids = {a.get("id") for _, a in page.tags}
    assert {"flow-chart", "timings-chart", "lines-chart"} <= ids
    timings = html_text.split('id="timings-chart"')[1].split("</svg>")[0]
    assert timings.count("<rect") == len(report["stages"])


def removed_lines_by_rule(records: list[dict[str, Any]]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for record in records:
        for event in record.get("history", []):
            if event["action"] == "removed_lines":
                counts.update(line["rule"] for line in event["lines"])
    return counts


def test_lines_removed_per_rule_are_exact_and_samples_capped(run_output: Path) -> None:
    report, dropped, kept = load(run_output)
    expected = removed_lines_by_rule(dropped) + removed_lines_by_rule(kept)
    assert set(expected) == {"blank", "short_line", "markup"}
    page_html = render_html(report, iter(dropped), iter(kept), samples_per_rule=2)
    shown: dict[str, int] = {}
    for chunk in page_html.split("<tr data-rule=")[1:]:
        rule = chunk.split('"')[1]
        shown[rule] = int(chunk.split('class="num rule-lines">')[1].split("<")[0])
    assert shown == dict(expected)
    # Samples: at most two per rule, each with its document id.
    for chunk in page_html.split('<details class="rule-samples"')[1:]:
        body = chunk.split("</details>")[0]
        assert 1 <= body.count("<tr><td") <= 2
    assert "short_line" in page_html and "003_89fd1761f10742c4_n0.txt" in page_html
    # Other history actions are counted, not mistaken for removed lines.
    assert ">parsed_header<" in page_html


def test_duplicate_clusters_follow_chains_to_the_survivor(run_output: Path) -> None:
    report, dropped, kept = load(run_output)
    page_html = render_html(report, iter(dropped), iter(kept))
    page = parse(page_html)
    clusters = {a["data-survivor"]: int(a["data-size"]) for a in page.with_attr("data-survivor")}
    assert clusters == {
        "003_89fd1761f10742c4.txt": 3,
        "001_2877f954cb6919f4.txt": 2,  # v2 directly, v2_copy via v2
        "000_0641a12947d22cdf.txt": 1,
        NASTY_NAME: 1,
    }
    # Largest first.
    order = [a["data-survivor"] for a in page.with_attr("data-survivor")]
    assert order[:2] == ["003_89fd1761f10742c4.txt", "001_2877f954cb6919f4.txt"]
    assert page.text_by_id["duplicate-records"] == "7" and page.text_by_id["cluster-count"] == "4"
    chain = page_html.split('data-survivor="001_2877f954cb6919f4.txt"')[1].split("</details>")[0]
    assert "001_2877f954cb6919f4_v2_copy.txt" in chain and "exact_duplicate" in chain and "sha1" in chain
    assert "0.900" in chain and "minhash" in chain and "1.000" in chain
    assert ">kept<" in chain  # the survivor is among the kept documents
    assert "1 through another duplicate" in chain
    # Capped: the largest cluster only, and a word on the rest.
    capped = parse(render_html(report, iter(dropped), iter(kept), max_clusters=1))
    assert [a["data-survivor"] for a in capped.with_attr("data-survivor")] == ["003_89fd1761f10742c4.txt"]
    assert capped.text_by_id["clusters-more"] == "3 more clusters with 4 duplicates are not listed."


def test_everything_is_escaped_and_the_page_is_self_contained(run_output: Path) -> None:
    page_html = write_html_report(run_output).read_text(encoding="utf-8")
    page = parse(page_html)
    # Only the page's own markup: one script, no images, no event handlers.
    assert (
        page_html.count("<script") == 1 and "<img" not in page_html and "<textarea" not in page_html.lower()
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html
    assert "&lt;/textarea&gt;&lt;img src=x onerror=alert(2)&gt;" in page_html
    assert "x&lt;b&gt;&amp;&#x27;q&#x27;.txt" in page_html  # the document id
    assert "odd &lt;header&gt; &amp; stuff" in page_html  # the warning
    tags = {tag for tag, _ in page.tags}
    assert tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "header",
        "h1",
        "h2",
        "h3",
        "nav",
        "a",
        "main",
        "div",
        "dl",
        "dt",
        "dd",
        "p",
        "section",
        "svg",
        "rect",
        "line",
        "path",
        "text",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "span",
        "details",
        "summary",
        "code",
        "b",
        "ol",
        "ul",
        "li",
        "button",
        "footer",
        "script",
    }, tags
    for tag, attributes in page.tags:
        assert not [name for name in attributes if name.startswith("on")], (tag, attributes)
        assert "src" not in attributes, tag
        if "href" in attributes:
            assert (attributes["href"] or "").startswith("#"), attributes
    # No network: nothing to fetch, and the CSP forbids it anyway.
    for needle in ("<link", "@import", "url(", "https://"):
        assert needle not in page_html
    assert page_html.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http://") == 0
    assert "default-src 'none'" in page_html


def test_written_atomically_with_custom_names(tmp_path: Path, seeds_dir: Path, ingest_cli: Any) -> None:
    out = build_run(
        tmp_path,
        seeds_dir,
        ingest_cli,
        "--set",
        'sink.documents="docs.jsonl"',
        "--set",
        'sink.dropped="gone.jsonl"',
    )
    assert (out / "docs.jsonl").exists() and not (out / "documents.jsonl").exists()
    target = write_html_report(out, path=tmp_path / "elsewhere" / "page.html")
    assert target == tmp_path / "elsewhere" / "page.html"
    page = parse(target.read_text(encoding="utf-8"))
    # The files were found through the report's "outputs" (no mismatch alert).
    assert page.text_by_id["cluster-count"] == "4"
    assert not [a for _, a in page.tags if a.get("class") == "alert"]
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]  # no .partial left behind


def test_without_history_the_page_says_so(tmp_path: Path, seeds_dir: Path, ingest_cli: Any) -> None:
    out = build_run(tmp_path, seeds_dir, ingest_cli, "--set", "sink.include_history=false")
    page_html = write_html_report(out).read_text(encoding="utf-8")
    assert "No history was recorded" in page_html
    assert parse(page_html).text_by_id["cluster-count"] == "4"


def test_empty_run(tmp_path: Path, ingest_cli: Any) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "config.toml").write_text('[source]\npath = "in"\n[sink]\npath = "out"\n')
    assert ingest_cli("run", "-c", str(tmp_path / "config.toml")).exit_code == 0
    page_html = write_html_report(tmp_path / "out").read_text(encoding="utf-8")
    page = parse(page_html)
    assert page.text_by_id["total-input"] == "0"
    assert "No documents were read." in page_html
    # the source says why: nothing in the folder matched (a warning, shown on the page)
    assert "No warnings." not in page_html and "no file in" in page_html and "nothing to do" in page_html


def test_mismatched_files_and_damaged_lines_are_flagged(run_output: Path) -> None:
    with (run_output / "documents.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    page_html = write_html_report(run_output).read_text(encoding="utf-8")
    assert "1 lines of the JSONL files are not JSON objects" in page_html
    report = json.loads((run_output / "report.json").read_text(encoding="utf-8"))
    report["kept"] += 1
    page_html = render_html(
        report, iter_jsonl(run_output / "dropped.jsonl"), iter_jsonl(run_output / "documents.jsonl")
    )
    assert "the report says" in page_html and "does not balance" in page_html


def test_odd_values_do_not_break_the_page() -> None:
    """Lone surrogates, control characters, wrong types, cycles in duplicate_of."""
    report = {
        "input": 3,
        "kept": 1,
        "dropped": 2,
        "stages": {"s\x00": {"dropped": {"r\ud800": 2}, "seconds": "x"}},
        "warning_samples": ["bad \ud83d char \x07"],
        "seconds": None,
    }
    dropped = [
        {
            "id": "a\ud800",
            "stage": "s",
            "reason": "dup",
            "duplicate_of": "b",
            "details": {"similarity": float("nan")},
        },
        {"id": "b", "stage": "s", "reason": "dup", "duplicate_of": "a\ud800", "details": "not a dict"},
    ]
    kept = [
        {
            "id": "k",
            "history": [
                {"stage": "s", "action": "removed_lines", "lines": ["plain \x1b[0m", 3, {"line": 1}]},
                "junk",
            ],
        }
    ]
    page_html = render_html(report, iter(dropped), iter(kept))
    page_html.encode("utf-8")  # no lone surrogates left
    assert "\x00" not in page_html and "\x1b" not in page_html and "\\x1b[0m" in page_html
    assert parse(page_html).text_by_id["duplicate-records"] == "2"


def test_memory_stays_bounded_while_counts_stay_exact() -> None:
    """A large synthetic run: the page stays small, the numbers exact, and
    the records are streamed (generators, consumed once)."""
    n_kept, n_dups, n_clusters = 20_000, 30_000, 6_000

    def dropped() -> Any:
        for i in range(n_dups):
            yield {
                "id": f"d{i}",
                "stage": "near",
                "reason": "near_duplicate",
                "duplicate_of": f"k{i % n_clusters}",
                "details": {"similarity": 0.8 + (i % 20) / 100, "method": "minhash"},
                "history": [
                    {
                        "stage": "bp",
                        "action": "removed_lines",
                        "lines": [{"line": 1, "text": "x" * 5000, "rule": "long"}],
                    }
                ],
            }

    def kept() -> Any:
        for i in range(n_kept):
            yield {
                "id": f"k{i}",
                "text": "t",
                "history": [
                    {
                        "stage": "bp",
                        "action": "removed_lines",
                        "lines": [{"line": j, "text": f"menu {j}", "rule": f"rule{j % 7}"} for j in range(5)],
                    }
                ],
            }

    report = {
        "input": n_kept + n_dups,
        "kept": n_kept,
        "dropped": n_dups,
        "stages": {"near": {"dropped": {"near_duplicate": n_dups}, "dropped_total": n_dups, "seconds": 1.5}},
    }
    page_html = render_html(report, dropped(), kept())
    assert len(page_html) < 400_000
    page = parse(page_html)
    assert page.text_by_id["duplicate-records"] == str(n_dups)
    assert page.text_by_id["cluster-count"] == str(n_clusters)
    assert len(page.with_attr("data-survivor")) == 30
    assert 'data-rule="long"' in page_html and 'class="num rule-lines">30000<' in page_html
    # Long lines are cut in samples.
    assert "x" * 400 not in page_html


def test_command_line(run_output: Path, tmp_path: Path) -> None:
    assert main([str(run_output)]) == 0
    assert (run_output / "report.html").exists()
    assert main([str(run_output / "report.json"), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").exists()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    (run_output / "report.html").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "ingest.report.report_html", str(run_output)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run_output / "report.html") and (run_output / "report.html").exists()
    missing = subprocess.run(
        [sys.executable, "-m", "ingest.report.report_html", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert missing.returncode == 2 and "no report.json" in missing.stderr
    shutil.rmtree(run_output)


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_and_sharded_outputs(run_output: Path, suffix: str) -> None:
    """The sink may compress its JSONL files and split them into shards;
    report["outputs"] then lists the shard paths."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix]
    report = json.loads((run_output / "report.json").read_text(encoding="utf-8"))
    expected = parse(
        render_html(
            report, iter_jsonl(run_output / "dropped.jsonl"), iter_jsonl(run_output / "documents.jsonl")
        )
    )
    outputs: dict[str, list[str]] = {}
    for key, name in (("documents", "documents.jsonl"), ("dropped", "dropped.jsonl")):
        lines = (run_output / name).read_text(encoding="utf-8").splitlines(keepends=True)
        shards = [lines[: len(lines) // 2], lines[len(lines) // 2 :]]
        outputs[key] = []
        for index, shard in enumerate(shards):
            target = run_output / f"{key}-{index:05d}.jsonl{suffix}"
            with opener(target, "wt", encoding="utf-8") as fh:
                fh.writelines(shard)
            outputs[key].append(str(Path("/somewhere/else") / target.name))  # only the names count
        (run_output / name).unlink()
    report["outputs"] = {**outputs, "report": str(run_output / "report.json")}
    (run_output / "report.json").write_text(json.dumps(report), encoding="utf-8")
    page_html = write_html_report(run_output).read_text(encoding="utf-8")
    page = parse(page_html)
    for element_id in ("total-input", "duplicate-records", "cluster-count"):
        assert page.text_by_id[element_id] == expected.text_by_id[element_id]
    assert not [a for _, a in page.tags if a.get("class") == "alert"]
    assert 'class="num rule-lines">' in page_html

    # A damaged shard is reported on the page; what could be read still counts.
    damaged = run_output / f"dropped-00001.jsonl{suffix}"
    damaged.write_bytes(damaged.read_bytes()[: len(damaged.read_bytes()) // 2])
    page_html = write_html_report(run_output).read_text(encoding="utf-8")
    assert f"dropped-00001.jsonl{suffix}: could not read past line" in page_html
    assert "dropped records were read but the report says 9 dropped" in page_html


def test_the_page_the_sink_writes_equals_the_page_rebuilt_from_the_files(
    run_output: Path, tmp_path: Path
) -> None:
    """The jsonl sink collects the page from the records as it writes them
    (no second read of its files); rebuilding it from the files gives the
    same bytes, duplicate clusters and samples included."""
    written = (run_output / "report.html").read_text(encoding="utf-8")
    assert main([str(run_output), "-o", str(tmp_path / "rebuilt.html")]) == 0
    rebuilt = (tmp_path / "rebuilt.html").read_text(encoding="utf-8")
    assert 'data-survivor="003_89fd1761f10742c4.txt"' in written and "rule-samples" in written
    assert written == rebuilt


def test_samples_do_not_depend_on_record_order(run_output: Path) -> None:
    report, dropped, kept = load(run_output)
    forward = render_html(report, iter(dropped), iter(kept), samples_per_rule=3)
    backward = render_html(report, iter(dropped[::-1]), iter(kept[::-1]), samples_per_rule=3)

    def samples(page_html: str) -> list[str]:
        return [
            chunk.split("</details>")[0] for chunk in page_html.split('<details class="rule-samples"')[1:]
        ]

    assert samples(forward) and samples(forward) == samples(backward)
    # Survivors are known to be kept whichever file comes first.
    assert forward.count(">kept<") == backward.count(">kept<") > 0


def test_no_samples_asked_for_counts_every_line_and_shows_none(run_output: Path) -> None:
    report, dropped, kept = load(run_output)
    page_html = render_html(report, iter(dropped), iter(kept), samples_per_rule=0)
    expected = removed_lines_by_rule(dropped) + removed_lines_by_rule(kept)
    shown = {
        chunk.split('"')[1]: int(chunk.split('class="num rule-lines">')[1].split("<")[0])
        for chunk in page_html.split("<tr data-rule=")[1:]
    }
    assert shown == dict(expected)
    assert all(
        "<tr><td" not in c.split("</details>")[0]
        for c in page_html.split('<details class="rule-samples"')[1:]
    )


@pytest.mark.parametrize("batch_bytes", [1, 1 << 20])
def test_the_page_collected_in_a_helper_process_equals_the_page_from_the_files(
    tmp_path: Path, seeds_dir: Path, ingest_cli: Any, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    """Large runs hand the records to a helper process (python -m ingest.report.report_feed);
    forced here after 3 records, in batches of one line or of everything."""
    from ingest.report import report_feed

    monkeypatch.setattr(report_feed, "START_AFTER", 3)
    monkeypatch.setattr(report_feed, "BATCH_BYTES", batch_bytes)
    started: list[Any] = []
    real_popen = report_feed.subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        started.append(args[0])
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(report_feed.subprocess, "Popen", popen)
    out = build_run(tmp_path, seeds_dir, ingest_cli)
    assert started and started[0][1:3] == ["-m", "ingest.report.report_feed"]
    written = (out / "report.html").read_text(encoding="utf-8")
    assert main([str(out), "-o", str(tmp_path / "rebuilt.html")]) == 0
    assert written == (tmp_path / "rebuilt.html").read_text(encoding="utf-8")
    assert "rule-samples" in written


def test_a_failing_helper_process_leaves_the_page_to_the_files(
    tmp_path: Path, seeds_dir: Path, ingest_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.report import report_feed

    monkeypatch.setattr(report_feed, "START_AFTER", 3)
    real_popen = report_feed.subprocess.Popen

    def broken_helper(cmd: list[str], **kwargs: Any) -> Any:  # a helper that dies at once
        return real_popen([cmd[0], "-c", "import sys; sys.exit(3)"], **kwargs)

    monkeypatch.setattr(report_feed.subprocess, "Popen", broken_helper)
    out = build_run(tmp_path, seeds_dir, ingest_cli)
    written = (out / "report.html").read_text(encoding="utf-8")
    assert main([str(out), "-o", str(tmp_path / "rebuilt.html")]) == 0
    assert written == (tmp_path / "rebuilt.html").read_text(encoding="utf-8")


def test_the_fields_sent_to_the_helper_are_all_the_page_reads(run_output: Path) -> None:
    """The helper gets only ``PAGE_FIELDS`` of each record (not the text): the page from
    records cut down to them equals the page from the whole records."""
    from ingest.report.report_feed import PAGE_FIELDS

    report, dropped, kept = load(run_output)
    assert any("text" in record for record in kept + dropped)
    kept_fields, dropped_fields = PAGE_FIELDS[b"K"], PAGE_FIELDS[b"D"]
    cut_kept = [{k: v for k, v in record.items() if k in kept_fields} for record in kept]
    cut_dropped = [{k: v for k, v in record.items() if k in dropped_fields} for record in dropped]
    assert render_html(report, iter(cut_dropped), iter(cut_kept)) == render_html(
        report, iter(dropped), iter(kept)
    )


def test_an_aborted_run_stops_the_helper_process(tmp_path: Path) -> None:
    from ingest.report.report_feed import ReportFeed
    from ingest.report.report_html import ReportBuilder

    feed = ReportFeed(ReportBuilder(), start_after=1, batch_bytes=1)
    record = {"id": "a", "text": "x", "history": [{"stage": "b", "action": "removed_lines", "lines": []}]}
    feed.add_kept(record)
    proc = feed._proc
    assert proc is not None and proc.poll() is None
    feed.close()
    assert proc.poll() is not None and not feed.failed
    assert not list(tmp_path.iterdir())


def _dup(doc_id: str, target: str, similarity: Any = 0.9, method: Any = "minhash") -> dict[str, Any]:
    return {
        "id": doc_id,
        "stage": "dedup",
        "reason": "near_duplicate",
        "duplicate_of": target,
        "details": {"similarity": similarity, "method": method},
    }


def _clusters(page_html: str) -> dict[str, tuple[int, list[str]]]:
    """Each listed cluster's survivor: its size and its members' ids, in the page's order."""
    out = {}
    for chunk in page_html.split('<details class="cluster" data-survivor="')[1:]:
        survivor, size = chunk.split('"')[0], int(chunk.split('data-size="')[1].split('"')[0])
        body = chunk.split("</details>")[0].split("<tbody>")[1]
        out[survivor] = (size, [row.split("</td>")[0] for row in body.split('<tr><td class="id">')[1:]])
    return out


def test_duplicate_chains_and_cycles_resolve_as_walked_from_the_first_duplicated() -> None:
    """Chains end at the document that duplicates none; a cycle's survivor is the first
    document met again walking from the documents in the order they were first
    duplicated (here c2, as c1's record names it first); a record of a document that
    duplicates itself ends its chain there."""
    dropped = [
        _dup("a2", "a1"),
        _dup("a3", "a2"),  # a chain: a3 -> a2 -> a1
        _dup("c1", "c2"),
        _dup("c2", "c3"),
        _dup("c3", "c1"),  # a cycle of three, and a tail into it
        _dup("t", "c3"),
        _dup("p", "q"),
        _dup("q", "p"),  # a cycle of two: pointer jumping alone would make two clusters
        _dup("s", "s"),
    ]
    page_html = render_html({"input": 12}, iter(dropped), iter([{"id": "a1"}]))
    page = parse(page_html)
    assert page.text_by_id["duplicate-records"] == "9"
    assert page.text_by_id["cluster-count"] == "4"
    clusters = _clusters(page_html)
    assert {k: v[0] for k, v in clusters.items()} == {"c2": 4, "a1": 2, "q": 2, "s": 1}
    assert clusters["a1"][1] == ["a2", "a3"] and clusters["q"][1] == ["p", "q"]
    # members: by the order their target was first duplicated (c2, c3, c1), then as they came
    assert clusters["c2"][1] == ["c1", "c2", "t", "c3"]
    assert page_html.count('class="fate kept">kept<') == 1  # only a1 is among the kept documents


def test_the_largest_clusters_are_listed_ties_by_survivor_and_the_rest_counted() -> None:
    dropped = [_dup(f"m{i}", "big", similarity=s) for i, s in enumerate([0.8, 1, "high", None, float("nan")])]
    dropped += [_dup(f"x{i}", f"z{9 - i}") for i in range(10)]  # ten clusters of one
    page_html = render_html({"input": 30}, iter(dropped), iter([]), max_clusters=3)
    clusters = _clusters(page_html)
    assert list(clusters) == ["big", "z0", "z1"]  # size first, then the survivor's id
    assert "similarity 0.800\u20131.000" in page_html  # the range of the numbers only
    assert "8 more clusters with 8 duplicates are not listed." in page_html
    assert parse(page_html).text_by_id["cluster-count"] == "11"


@pytest.mark.parametrize("max_clusters", [1, 4, 50])
def test_a_collection_merged_from_files_reads_back_only_the_ids_it_shows(
    tmp_path: Path, max_clusters: int
) -> None:
    """Merged with the file each shard's builder was loaded from, the page keeps the ids
    of those duplicates in the files (the records' numbers only here) and reads back
    those it lists, ties among clusters of one size included: the page is the one
    the records read in order make, with records added here before and after."""
    import pickle

    from ingest.report.report_html import ReportBuilder

    dropped = [_dup(f"d{i}", f"k{i % 9}", similarity=[0.81, 0.93, True][i % 3]) for i in range(70)]
    dropped += [_dup(f"lone-{i}", f"t{i}") for i in range(12)]  # clusters of one: a tie to break
    dropped += [_dup("k3", "k5"), _dup("k5", "k3")]
    whole, merged = ReportBuilder(), ReportBuilder()
    for record in dropped:
        whole.add_dropped(record)
    for record in dropped[:5]:  # held by the merged builder itself
        merged.add_dropped(record)
    files = 0
    for start in range(5, len(dropped) - 3, 19):
        shard = ReportBuilder()
        for record in dropped[start : min(start + 19, len(dropped) - 3)]:
            shard.add_dropped(record)
        path = tmp_path / f"page-{files}.pickle"
        path.write_bytes(pickle.dumps(shard))
        merged.merge(pickle.loads(path.read_bytes()), str(path))
        files += 1
    tail = ReportBuilder()
    for record in dropped[len(dropped) - 3 :]:
        tail.add_dropped(record)
    merged.merge(tail)  # no file: its ids come along
    duplicates = merged._collector.duplicates
    assert len(duplicates.sources) == files and len(duplicates.starts) == 5 + 3
    report = {"input": 90}
    assert merged.render(report, max_clusters=max_clusters) == whole.render(report, max_clusters=max_clusters)
    # a builder merged from files merges into another one with its rows moved
    outer = ReportBuilder()
    outer.add_dropped(_dup("first", "k1"))
    outer.merge(merged)
    again = ReportBuilder()
    for record in [_dup("first", "k1"), *dropped]:
        again.add_dropped(record)
    assert outer.render(report, max_clusters=max_clusters) == again.render(report, max_clusters=max_clusters)
    with pytest.raises(ValueError, match="from a builder that holds their ids"):
        ReportBuilder().merge(merged, str(tmp_path / "merged.pickle"))


def test_a_merged_and_pickled_collection_makes_the_page_of_the_records_in_order() -> None:
    """A sharded run merges each shard's pickled builder in shard order: the page is the
    one the records read in that order make (members, survivors, odd values)."""
    import pickle

    from ingest.report.report_html import ReportBuilder

    dropped = [_dup(f"d{i}", f"k{i % 7}", similarity=[0.81, 0.93, True, "x"][i % 4]) for i in range(60)]
    dropped += [_dup("k3", "k5"), _dup("k5", "k3"), _dup("k1", "k2", method={"k": 1})]
    kept = [{"id": f"k{i}"} for i in range(0, 7, 2)]
    whole = ReportBuilder()
    for record in dropped:
        whole.add_dropped(record)
    for record in kept:
        whole.add_kept(record)
    merged = ReportBuilder()
    for start in range(0, len(dropped), 17):
        shard = ReportBuilder()
        for record in dropped[start : start + 17]:
            shard.add_dropped(record)
        merged.merge(pickle.loads(pickle.dumps(shard)))
    for record in kept:
        merged.add_kept(record)
    report = {"input": 70}
    assert merged.render(report, max_clusters=4) == whole.render(report, max_clusters=4)
    assert _clusters(whole.render(report, max_clusters=4))


@pytest.mark.parametrize("joined_after", [1 << 16, 3], ids=["targets-joined-once", "joined-a-few-at-a-time"])
@pytest.mark.parametrize("seed", range(4))
def test_clusters_of_random_chains_are_those_a_walk_of_each_chain_finds(
    tmp_path: Path, seed: int, joined_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random chains (a document given twice: its last record counts) through a
    builder merged from saved shards: each cluster's size, members (by the first
    record naming their target, then as they came) and similarities are those found
    by walking each record's target to the end of its chain; the same when the
    shards' targets are joined a few at a time."""
    import pickle
    import random

    from ingest.report import report_html
    from ingest.report.report_html import ReportBuilder

    monkeypatch.setattr(report_html, "TARGETS_JOINED_AFTER", joined_after)

    rng = random.Random(seed)
    # a record's target has a smaller number than its document: chains, never cycles
    records = []
    for _ in range(400):
        child = rng.randrange(1, 120)
        records.append(
            _dup(f"n{child}", f"n{rng.randrange(child)}", similarity=rng.choice([0.8, 0.95, None]))
        )
    parent = {r["id"]: r["duplicate_of"] for r in records}  # the last record counts

    def end(doc: str) -> str:
        while doc in parent:
            doc = parent[doc]
        return doc

    first_named: dict[str, int] = {}
    for row, r in enumerate(records):
        first_named.setdefault(r["duplicate_of"], row)
    expected: dict[str, list[int]] = collections.defaultdict(list)
    for row, r in enumerate(records):
        expected[end(r["duplicate_of"])].append(row)
    merged = ReportBuilder()
    for k, start in enumerate(range(0, len(records), 37)):
        shard = ReportBuilder()
        for record in records[start : start + 37]:
            shard.add_dropped(record)
        path = tmp_path / f"page-{k}.pickle"
        path.write_bytes(pickle.dumps(shard))
        merged.merge(pickle.loads(path.read_bytes()), str(path))
    page_html = merged.render({"input": 520}, max_clusters=200)
    assert parse(page_html).text_by_id["cluster-count"] == str(len(expected))
    clusters = _clusters(page_html)
    assert {s: size for s, (size, _) in clusters.items()} == {s: len(rows) for s, rows in expected.items()}
    for survivor, rows in expected.items():
        ordered = sorted(rows, key=lambda row: (first_named[records[row]["duplicate_of"]], row))
        assert clusters[survivor][1] == [records[row]["id"] for row in ordered][: len(clusters[survivor][1])]
        sims = [records[row]["details"]["similarity"] for row in rows]
        numbers = [s for s in sims if s is not None]
        shown = page_html.split(f'data-survivor="{survivor}"')[1].split("</details>")[0]
        if numbers and min(numbers) != max(numbers):
            assert f"similarity {min(numbers):.3f}\u2013{max(numbers):.3f}" in shown
