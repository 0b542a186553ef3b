"""Titles, outlets, bylines and datelines that are right or absent, with where each came from.

Every document here is written for these tests: a small web page dumped to text (navigation,
headline, byline, article, related stories, footer) or a plain article. They run through
``ingest run`` (header and boilerplate stages) and ``ingest explain``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_plugins.header import parse_document
from ingest_plugins.header.extract import split_site_name

from ingest import Document

ARTICLE = [
    (
        "The harbour bridge reopened to traffic on Monday morning after two years of repairs that closed the "
        "main road link between the old town and the port, the city transport office said."
    ),
    (
        "Engineers replaced the steel cables and the road deck of the bridge, which carries about forty "
        "thousand cars a day, and the repairs came in slightly under the budget approved by the council."
    ),
    (
        "Commuters who had taken the ferry or a long detour through the northern suburbs said the reopening "
        "would cut their journey to work by half an hour or more."
    ),
    (
        "The transport office said the bridge would be closed again for one night in April so that the "
        "workers can paint the last section of the railings."
    ),
]
HEADLINE = "Harbour bridge reopens after two years of repairs"
NAVIGATION = ["Skip to main content", "Sign In", "Subscribe", "Home", "World", "Business", "Sport", "Weather"]
FOOTER = [
    "Related stories",
    "Council approves new budget for the ferry service",
    "Port workers vote to strike over pay",
    "Contact Us",
    "Privacy Policy",
    "© 2025 The Coastal Herald",
]


def page(*above: str, top: tuple[str, ...] = tuple(NAVIGATION)) -> str:
    """A page: navigation, the given lines above the article, the article, related stories, footer."""
    return "\n".join([*top, *above, *ARTICLE, *FOOTER]) + "\n"


def run(tmp_path: Path, ingest_cli, docs: dict[str, str], stages: str = "") -> dict[str, dict]:
    """``ingest run`` with the header and boilerplate stages over ``docs``; the records by id."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        '[source]\ntype = "text_files"\npath = "in"\n[sink]\ntype = "jsonl"\npath = "out"\n'
        '[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "boilerplate"\n' + stages,
        encoding="utf-8",
    )
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["warnings"] == 0, report
    records = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    return {r["id"]: r for r in records}


def sources(record: dict, stage: str) -> list[dict]:
    """The value sources a stage recorded (its ``metadata`` history events)."""
    return [
        line
        for event in record.get("history", [])
        if event["stage"] == stage and event["action"] == "metadata"
        for line in event["lines"]
    ]


def explain(tmp_path: Path, ingest_cli, doc_id: str) -> str:
    result = ingest_cli("explain", doc_id, "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_headline_above_the_article_is_the_title(tmp_path, ingest_cli):
    text = page(HEADLINE, "By Maria Keller", "March 3, 2025 7:15 AM", "Share")
    with_header = " date 2025-03-03 7\n" + text  # a header line the header stage removes first
    docs = run(tmp_path, ingest_cli, {"page.txt": text, "dated.txt": with_header})
    line = len(NAVIGATION) + 1
    for doc_id, title_line in (("page.txt", line), ("dated.txt", line + 1)):
        metadata = docs[doc_id]["metadata"]
        assert metadata["title"] == HEADLINE, doc_id
        # the line of the input file, whatever earlier stages removed
        assert metadata["title_line"] == title_line, doc_id
        assert text.split("\n")[line - 1] == HEADLINE
        # numbered as the text the boilerplate stage received (the header line is gone from it)
        assert sources(docs[doc_id], "boilerplate") == [
            {"line": line, "rule": "title:above_article", "text": HEADLINE, "key": "title"}
        ]
    # the page does not start with its headline: the header stage does not guess
    assert sources(docs["page.txt"], "header") == []


def test_the_headline_not_its_standfirst_nor_its_caption(tmp_path, ingest_cli):
    standfirst = "Commuters welcome the reopening of the harbour bridge, two years after the repairs began"
    caption = "The harbour bridge on the morning it reopened to traffic"
    docs = run(
        tmp_path,
        ingest_cli,
        {
            "standfirst.txt": page(HEADLINE, standfirst, "By Maria Keller", "March 3, 2025"),
            "caption.txt": page(HEADLINE, "March 3, 2025", "Share", caption),
        },
    )
    assert docs["standfirst.txt"]["metadata"]["title"] == HEADLINE
    assert docs["caption.txt"]["metadata"]["title"] == HEADLINE


def test_the_site_name_is_split_off_a_title_like_first_line(tmp_path, ingest_cli):
    first = HEADLINE + " - The Coastal Herald"
    text = first + "\n\n" + "\n\n".join(ARTICLE) + "\n"
    metadata = parse_document(text).metadata
    assert metadata["title"] == HEADLINE and metadata["title_line"] == 1
    docs = run(tmp_path, ingest_cli, {"titled.txt": text})
    assert docs["titled.txt"]["metadata"]["title"] == HEADLINE
    assert sources(docs["titled.txt"], "header") == [
        {"line": 1, "rule": "title:first_line", "text": first, "key": "title"}
    ]


@pytest.mark.parametrize(
    ("line", "split"),
    [
        (
            "Harbour bridge reopens after repairs | Coastal Herald",
            ("Harbour bridge reopens after repairs", "Coastal Herald"),
        ),
        (
            "Harbour bridge reopens after repairs – harbourtimes.com",
            ("Harbour bridge reopens after repairs", "harbourtimes.com"),
        ),
        (
            "Harbour bridge reopens after repairs - The Times of Kent",
            ("Harbour bridge reopens after repairs", "The Times of Kent"),
        ),
        # not a site name after the separator: the line stays whole
        ("Harbour bridge reopens after repairs - Part 2", None),
        ("Harbour bridge reopens - and the ferry is empty", None),
        ("Opinion | Harbour bridge reopens after two years of repairs", None),
        ("Bridge reopens - Coastal Herald", None),  # too short a headline to split
    ],
)
def test_split_site_name(line: str, split: tuple[str, str] | None) -> None:
    assert split_site_name(line) == (split if split else (line, None))


def test_a_furniture_line_is_never_the_title(tmp_path, ingest_cli):
    newsletter = "Sign up for our newsletter"
    pitch = (
        "Sign up for our free newsletter and get the best of the harbour news in your inbox every morning, "
        "with our pick of the day's stories."
    )
    docs = run(
        tmp_path,
        ingest_cli,
        {
            # the header stage reads the first line as a title (prose about it follows) ...
            "newsletter.txt": "\n".join([newsletter, pitch, "Home", "Local", "Sport", "Weather", *ARTICLE])
            + "\n",
            # ... menus, sign-in and contact links above an article without a headline
            "menus.txt": page(
                top=("Skip to main content", "Sign In", "Contact Us", "LIVE TV", "Home", "Sport")
            ),
        },
    )
    assert sources(docs["newsletter.txt"], "header") == [
        {"line": 1, "rule": "title:first_line", "text": newsletter, "key": "title"}
    ]
    # ... and the boilerplate stage, which removes it as furniture, withdraws it
    withdrawn = sources(docs["newsletter.txt"], "boilerplate")
    assert [(s["line"], s["key"], s["rule"].split(":")[1]) for s in withdrawn] == [(1, "title", "furniture")]
    for doc in docs.values():
        assert "title" not in doc["metadata"] and "title_line" not in doc["metadata"], doc["id"]


def test_no_title_when_unsure(tmp_path, ingest_cli):
    docs = run(
        tmp_path,
        ingest_cli,
        {
            # a line above the article that shares no words with it
            "unrelated.txt": page("Weekend weather outlook for the coast", "March 3, 2025"),
            # other stories' headlines right above the article
            "list.txt": page(
                "Council approves new budget for the ferry service",
                "Port workers vote to strike over pay",
                "New museum opens in the old customs house",
                "Ferry timetable changes for the summer season",
            ),
            # a plain article with no headline at all
            "bare.txt": "\n".join(ARTICLE) + "\n",
        },
    )
    for doc in docs.values():
        assert "title" not in doc["metadata"], (doc["id"], doc["metadata"].get("title"))
        assert sources(doc, "boilerplate") == []


def test_a_source_or_header_title_is_never_replaced(run_pipeline):
    text = page(HEADLINE, "By Maria Keller", "March 3, 2025")
    result = run_pipeline(
        [
            Document("source.txt", text, metadata={"title": "The title the source gave"}),
            Document("block.txt", "title: The title the header gave\nauthor: Maria Keller\n\n" + text),
        ],
        ["header", "boilerplate"],
    )
    assert result.kept_by_id("source.txt").metadata["title"] == "The title the source gave"
    block = result.kept_by_id("block.txt")
    assert block.metadata["title"] == "The title the header gave"
    assert [e.action for e in block.history if e.stage == "boilerplate"] == ["removed_lines"]
    header_sources = [line for e in block.history if e.action == "metadata" for line in e.details["lines"]]
    assert [(s["key"], s["line"], s["rule"]) for s in header_sources] == [
        ("title", 1, "header:key_value"),
        ("author", 2, "header:key_value"),
    ]


def test_outlet_from_a_furniture_paragraph_is_withdrawn_dateline_from_the_article_kept(tmp_path, ingest_cli):
    promo = (
        "(Harbour Deals) Sign up for our newsletter and save twenty percent on your next ferry ticket, "
        "this week only."
    )
    text = "\n".join([HEADLINE, promo, "PORTSMOUTH: " + ARTICLE[0], *ARTICLE[1:]]) + "\n"
    doc = run(tmp_path, ingest_cli, {"agency.txt": text})["agency.txt"]
    assert [(s["key"], s["line"], s["rule"]) for s in sources(doc, "header")] == [
        ("title", 1, "title:first_line"),
        ("outlet", 2, "outlet:agency_tag"),
        ("dateline", 3, "dateline:place_colon"),
    ]
    assert [(s["key"], s["line"], s["rule"]) for s in sources(doc, "boilerplate")] == [
        ("outlet", 2, "outlet:furniture:promo")
    ]
    assert "outlet" not in doc["metadata"] and "outlet_line" not in doc["metadata"]
    assert doc["metadata"]["dateline"] == "PORTSMOUTH" and doc["metadata"]["title"] == HEADLINE


def test_a_headline_with_a_colon_is_not_a_dateline() -> None:
    text = (
        "Harbour Notes: Bridge reopens to traffic after two years of repairs and a long wait\n"
        + ARTICLE[0]
        + "\n"
    )
    assert "dateline" not in parse_document(text).metadata
    assert parse_document("Portsmouth: " + ARTICLE[0] + "\n").metadata["dateline"] == "Portsmouth"


def test_article_text_in_key_value_form_is_not_a_header(tmp_path, ingest_cli):
    updated = "Updated: New York,"
    docs = run(
        tmp_path,
        ingest_cli,
        {
            "updated.txt": updated + "\n" + "\n".join(ARTICLE) + "\n",
            "summary.txt": "Summary: The harbour bridge reopened on Monday after two years of repairs.\n\n"
            + "\n\n".join(ARTICLE)
            + "\n",
        },
    )  # run() asserts the run raised no warning
    for doc in docs.values():
        assert not any(e["action"] == "removed_lines" and e["stage"] == "header" for e in doc["history"])
        assert "updated" not in doc["metadata"] and "summary" not in doc["metadata"]
        assert "header_raw" not in doc["metadata"]
    result = parse_document(updated + "\n" + ARTICLE[0] + "\n")
    assert result.header_lines == () and result.warnings == ()


@pytest.mark.parametrize(
    "text",
    [
        "updated: 2025-13-45\ntitle: Bridge reopens\n\nThe bridge reopened.\n",  # a block of two lines
        "date: 2025-02-30\n\nThe bridge reopened.\n",  # a lone line with the shape of a date
    ],
)
def test_a_header_block_with_a_bad_value_still_warns(text: str) -> None:
    result = parse_document(text)
    assert result.header_lines and [w.line for w in result.warnings] == [1]
    assert "not a valid date" in result.warnings[0].message


def test_explain_shows_where_each_value_came_from(tmp_path, ingest_cli):
    run(
        tmp_path,
        ingest_cli,
        {
            "page.txt": page(HEADLINE, "By Maria Keller", "March 3, 2025"),
            "plain.txt": HEADLINE + "\n" + "\n".join(ARTICLE) + "\n",
        },
    )
    shown = explain(tmp_path, ingest_cli, "page.txt")
    line = len(NAVIGATION) + 1
    assert "[boilerplate] metadata" in shown
    assert any(
        row.split() == ["-", str(line), "title:above_article", *HEADLINE.split()]
        for row in shown.splitlines()
    )
    shown = explain(tmp_path, ingest_cli, "plain.txt")
    assert "[header] metadata" in shown
    assert any(row.split() == ["-", "1", "title:first_line", *HEADLINE.split()] for row in shown.splitlines())


def test_titles_can_be_left_alone(tmp_path, ingest_cli):
    newsletter = "Sign up for our newsletter"
    pitch = (
        "Sign up for our free newsletter and get the best of the harbour news in your inbox every morning."
    )
    text = "\n".join([newsletter, pitch, *ARTICLE]) + "\n"
    doc = run(tmp_path, ingest_cli, {"doc.txt": text}, stages="titles = false\n")["doc.txt"]
    # without the review, the header stage's guess stands and the boilerplate stage records nothing
    assert doc["metadata"]["title"] == newsletter
    assert sources(doc, "boilerplate") == []


@pytest.mark.parametrize("option", ["title_window = 0", "title_min_overlap = 1.5"])
def test_title_options_are_checked(tmp_path, ingest_cli, option):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\ntype = "text_files"\npath = "."\n[sink]\ntype = "jsonl"\npath = "out"\n'
        f'[[pipeline]]\nstage = "boilerplate"\n{option}\n',
        encoding="utf-8",
    )
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code != 0
    assert option.split(" =")[0] in result.stderr


def test_the_boilerplate_bench_scores_titles(tmp_path):
    """benchmarks/boilerplate_bench.py prints the title score and the share of gutted pages."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    gold_dir = tmp_path / "set"
    (gold_dir / "input").mkdir(parents=True)
    (gold_dir / "gold").mkdir()
    museum = [
        (
            "The new museum in the old customs house opened its doors on Saturday with an exhibition "
            "about the ships that were built in the town during the last two centuries."
        ),
        (
            "Visitors queued along the quay before the opening, and the curators said more than two thousand "
            "people came through the galleries on the first day alone."
        ),
    ]
    ferry = [
        (
            "Ferry passengers will pay more from June after the operator raised its fares for the first "
            "time in five years, blaming the cost of fuel and of the new boats it ordered last winter."
        ),
        (
            "The council said it would ask the operator to keep the cheaper season ticket for people who "
            "cross the harbour every day to go to work or to school."
        ),
    ]
    pages = {
        "right": (
            "\n".join([*NAVIGATION, HEADLINE, "By Maria Keller", "March 3, 2025", *ARTICLE, *FOOTER]),
            ARTICLE,
        ),
        "none": ("\n".join([*NAVIGATION, *museum, *FOOTER]), museum),
        "other": ("\n".join([*NAVIGATION, "Weekend weather outlook for the coast", *ferry, *FOOTER]), ferry),
    }
    for name, (text, gold) in pages.items():
        (gold_dir / "input" / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
        (gold_dir / "gold" / f"{name}.txt").write_text("\n".join(gold) + "\n", encoding="utf-8")
    refs = [{"id": f"{name}.txt", "refs": [HEADLINE + " | The Coastal Herald", HEADLINE]} for name in pages]
    (gold_dir / "titles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "boilerplate_bench.py"),
            "--gold-dir",
            str(gold_dir),
            "--no-justext",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 given for 3 pages, 1 right: precision 1.000, recall 0.333" in proc.stdout
    header = next(line for line in proc.stdout.splitlines() if line.startswith("extractor"))
    assert "<half" in header
