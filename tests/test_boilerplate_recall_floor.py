"""The recall floor of the boilerplate stage: no article thrown away on weak evidence.

The pages are written for these tests: an article whose longest prose block is
a reader's comment, a page in three parts, a listing, and an article followed
by an end marker and other stories (which must still go).
"""

from __future__ import annotations

import json
from pathlib import Path

from ingest_plugins.boilerplate import BoilerplateOptions, Cleaner, kept_text

ARTICLE = [
    "The town council of Millbrook voted on Tuesday evening to rebuild the old stone bridge over the river, "
    "a project that has been discussed for more than a decade and that many of the residents who came to the "
    "meeting said they had almost given up on.",
    "According to the plan that was approved by a narrow margin, the work will begin in the spring and is "
    "expected to last about two years, during which time the traffic that now crosses the bridge every day "
    "will be sent along a longer road to the north of the town.",
    "The mayor said that the cost of the project would be shared with the regional government, which has "
    "promised to pay for most of it, and that the town would borrow the rest over a period of twenty years "
    "so that the taxes of the residents would not have to rise.",
]

#: one reader's comment, longer than the article
COMMENT = (
    "I have lived in this town for most of my life and I have to say that I am not at all surprised that it "
    "took them this long to make up their minds about the bridge, because that is how things have always been "
    "done here, with a lot of talk and very little action until something finally breaks and then there is a "
    "rush to fix it before anyone can ask why it was not done years ago when it would have been much cheaper "
    "for all of us. What worries me most is not the bridge itself but the road to the north, which is narrow "
    "and has no footpath for most of its length, so I do not see how the children who walk to the school on "
    "the other side of the river are going to get there safely while the work is going on, and I have not "
    "heard a single word from the council about what they are planning to do about it, which makes me think "
    "that they have not thought about it at all and that we will only find out when it is too late."
)

NAV = ["Home", "News", "Sport", "Weather", "Contact"]
SHARE = ["Share", "Tweet", "Email", "Print"]
#: a sidebar of dated headlines between the article and the comments
LATEST = [
    "Library opening hours to change",
    "March 2, 2024",
    "New cycle path planned along the river",
    "March 1, 2024",
    "Market returns to the square",
    "February 28, 2024",
    "School choir wins the county prize",
    "February 27, 2024",
]


def page(*blocks: list[str]) -> str:
    return "\n\n".join(line for block in blocks for line in block) + "\n"


def comment_page() -> str:
    """The article, then one long reader's comment behind a name and a date."""
    return page(
        NAV,
        ["Council votes to rebuild the old bridge"],
        ARTICLE,
        SHARE,
        LATEST,
        ["Readers respond"],
        ["riverside_walker", "March 3, 2024 at 10:15 am"],
        [COMMENT],
        ["Reply"],
        ["© 2024 Millbrook Gazette. All rights reserved."],
    )


PARTS = [
    [
        "The first part of our history of the valley begins with the farmers who came to the river in the "
        "years after the war, when the land was cheap and the water was clean, and who built the first houses "
        "of what would later become the town along the banks where the ground was flat enough to plough.",
        "They grew wheat and barley on the higher fields and kept cattle on the meadows by the water, and for "
        "almost fifty years the life of the valley followed the seasons of the farm and the market that was "
        "held in the square on the first Saturday of every month.",
    ],
    [
        "The second part is the story of the mill, which was opened by two brothers from the city at the end "
        "of the century and which changed the valley more in ten years than the farms had changed it in fifty, "
        "bringing in workers from all over the country who needed houses, shops and a school for their children.",
        "At its busiest the mill employed more than four hundred people, and the sound of its machines could be "
        "heard from one end of the valley to the other from six in the morning until late in the evening.",
    ],
    [
        "The third part of the history tells how the mill closed after the floods of the winter when the river "
        "rose higher than anyone could remember, and how the town slowly found a new life as a place where "
        "people from the city came to walk in the hills and to eat in the old inns by the water.",
        "Today most of the people who live in the valley work somewhere else, but many of them say that they "
        "would not want to live anywhere else, and the old mill has been turned into a museum of the valley.",
    ],
]


def multipart_page() -> str:
    """Three parts of one story, each behind its own heading, date line and gallery."""
    gallery = ["Photo gallery", "View all photos", "Next photo", "Previous photo", "Download"]
    blocks: list[list[str]] = [NAV, ["A history of the valley in three parts"]]
    for number, part in enumerate(PARTS, 1):
        blocks += [
            [
                f"Part {number} of 3",
                f"Published March {number}, 2024",
                f"Updated March {number}, 2024 at 9:00 am",
                "By Ann Weaver",
            ],
            part,
            gallery,
        ]
    blocks.append(["© 2024 Valley Courier. All rights reserved."])
    return page(*blocks)


ITEMS = [
    "1) Chef's knife, 20 cm, carbon steel",
    "2) Oak cutting board, 40 x 30 cm",
    "3) Glass mixing bowls (set of 2)",
    "4) Measuring spoons and jug",
    "5) Cast iron pan, 26 cm",
    "6) Fine mesh sieve",
    "7) Beech spoon and steel spatula",
    "8) Digital kitchen scale, 5 kg",
]


def listing_page() -> str:
    """An introduction, then the article itself as a numbered list of short items."""
    return page(
        NAV,
        ["The eight tools every new cook needs"],
        [
            "When people ask me what they should buy for their first kitchen, I always tell them that they need far "
            "fewer things than the shops would like them to believe, and that a few good tools will serve them "
            "better than a drawer full of gadgets that they will use once and then forget about.",
            "Here is the short list that I give to every student who comes to my cooking classes for the first time:",
        ],
        [line for n, item in enumerate(ITEMS, 1) for line in (item, f"shop.example.com/tools/{n}")],
        SHARE,
        ["© 2024 Home Kitchen. All rights reserved."],
    )


TEASERS = [
    [
        "Library opening hours to change in the summer",
        "By Tom Baker",
        "June 2, 2024",
        "The town library will open later on weekday mornings during the summer months, the council said in a "
        "statement that also announced a series of reading events for the children of the town, which will be "
        "held in the garden of the library on Saturday mornings.",
    ],
    [
        "New cycle path planned along the river",
        "By Sara Lee",
        "June 1, 2024",
        "A new cycle path that will run along the river from the old mill to the station has been approved, and "
        "the council hopes that it will be ready before the start of the next school year in the autumn, when "
        "many of the pupils are expected to use it.",
    ],
    [
        "Market returns to the square",
        "By Tom Baker",
        "May 30, 2024",
        "The monthly market will return to the square next Saturday after a break of two years, with more than "
        "forty stalls selling food, flowers and crafts from the farms and workshops of the valley and from the "
        "towns along the coast.",
    ],
]


def teaser_page(marker: bool) -> str:
    """The article, then (behind "Related Articles" or not) a list of other stories."""
    blocks: list[list[str]] = [NAV, ["Council votes to rebuild the old bridge"], ARTICLE, SHARE]
    if marker:
        blocks.append(["Related Articles"])
    blocks += TEASERS
    blocks.append(["© 2024 Millbrook Gazette. All rights reserved."])
    return page(*blocks)


def run(tmp_path: Path, ingest_cli, docs: dict[str, str], extra: str = "") -> dict[str, dict]:
    """``ingest run`` with the boilerplate stage over ``docs`` written as text files."""
    src = tmp_path / "pages"
    src.mkdir()
    for name, text in docs.items():
        (src / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\npath = "{src}"\n[[pipeline]]\nstage = "boilerplate"\ntitles = false\n{extra}',
        encoding="utf-8",
    )
    result = ingest_cli("run", "-c", str(config), "--output", str(out))
    assert result.exit_code == 0, result.stderr
    return {d["id"]: d for d in map(json.loads, (out / "documents.jsonl").read_text().splitlines())}


def events(doc: dict, action: str) -> list[dict]:
    return [e for e in doc["history"] if e.get("action") == action]


def test_article_outweighed_by_a_long_comment_is_kept_and_reported(tmp_path, ingest_cli):
    text = comment_page()
    docs = run(tmp_path, ingest_cli, {"comment.txt": text})
    kept = docs["comment.txt"]["text"]
    for paragraph in ARTICLE:
        assert paragraph in kept
    assert "All rights reserved" not in kept and "riverside_walker" not in kept
    (low,) = events(docs["comment.txt"], "low_confidence")
    assert 0 < low["span_share"] < 0.6
    lines = text.split("\n")
    kept_outside = {lines[n - 1] for n in low["kept_outside_span"]}
    assert set(ARTICLE) <= kept_outside
    removed = {e["line"] for e in events(docs["comment.txt"], "removed_lines")[0]["lines"]}
    assert not removed & set(low["kept_outside_span"])


def test_without_the_floor_the_comment_wins(tmp_path, ingest_cli):
    # the case above is a real one: the span alone keeps the comment and drops the article
    docs = run(tmp_path, ingest_cli, {"comment.txt": comment_page()}, "recall_floor = 0.0\n")
    kept = docs["comment.txt"]["text"]
    assert COMMENT in kept
    assert not any(paragraph in kept for paragraph in ARTICLE)
    assert not events(docs["comment.txt"], "low_confidence")


def test_multipart_page_keeps_every_part(tmp_path, ingest_cli):
    docs = run(tmp_path, ingest_cli, {"parts.txt": multipart_page()})
    kept = docs["parts.txt"]["text"]
    for part in PARTS:
        for paragraph in part:
            assert paragraph in kept
    assert "Photo gallery" not in kept and "All rights reserved" not in kept
    assert events(docs["parts.txt"], "low_confidence")


def test_multipart_page_loses_parts_without_the_floor():
    text = multipart_page()
    off = kept_text(Cleaner(BoilerplateOptions(recall_floor=0.0)).clean(text))
    on = kept_text(Cleaner(BoilerplateOptions()).clean(text))
    assert sum(p in off for part in PARTS for p in part) < sum(p in on for part in PARTS for p in part) == 6


def test_numbered_list_next_to_the_article_is_kept(tmp_path, ingest_cli):
    docs = run(tmp_path, ingest_cli, {"listing.txt": listing_page()})
    kept = docs["listing.txt"]["text"]
    for item in ITEMS:
        assert item in kept
    assert "Tweet" not in kept and "All rights reserved" not in kept
    off = kept_text(Cleaner(BoilerplateOptions(keep_numbered_lists=False)).clean(listing_page()))
    assert not any(item in off for item in ITEMS)


def test_end_marker_and_teaser_list_still_remove_other_stories(tmp_path, ingest_cli):
    docs = run(
        tmp_path,
        ingest_cli,
        {"marker.txt": teaser_page(marker=True), "teasers.txt": teaser_page(marker=False)},
    )
    for name in ("marker.txt", "teasers.txt"):
        kept = docs[name]["text"]
        for paragraph in ARTICLE:
            assert paragraph in kept
        for teaser in TEASERS:
            assert not any(line in kept for line in teaser), (name, teaser)
        # a page whose article is clear is not reported
        assert not events(docs[name], "low_confidence")
    rules = {e["rule"] for e in events(docs["marker.txt"], "removed_lines")[0]["lines"]}
    assert "end_marker" in rules
    rules = {e["rule"] for e in events(docs["teasers.txt"], "removed_lines")[0]["lines"]}
    assert "teaser_list" in rules


def test_cleaner_api_reports_the_low_confidence_page():
    lines, keep, rules, low = Cleaner(BoilerplateOptions()).decide_with_confidence(comment_page())
    assert low is not None and low.restored and low.span_share < 0.6
    assert {lines[i] for i in low.restored} >= set(ARTICLE)
    assert all(keep[i] and rules[i] is None for i in low.restored)
    assert Cleaner(BoilerplateOptions()).decide_with_confidence(teaser_page(marker=True))[3] is None


REPLIES = [
    "I walk across that bridge every morning on my way to work and I have always thought that it was in a much "
    "worse state than the council would admit, so I am glad that they have finally decided to do something about "
    "it, even if it means that I will have to take the bus for a couple of years.",
    "The real question that nobody at the meeting wanted to ask is who is going to pay when the work costs twice "
    "as much as they say it will, because that is what happened with the school and with the swimming pool, and "
    "I do not remember anyone being asked to explain why.",
    "My grandfather helped to repair the bridge after the flood of the winter of 1962 and he always said that it "
    "would stand for another hundred years if only they kept the drains under it clear, which of course they never "
    "did, so here we are once again.",
]


def test_readers_comments_behind_comment_headers_stay_out(tmp_path, ingest_cli):
    blocks: list[list[str]] = [NAV, ["Council votes to rebuild the old bridge"], ARTICLE, SHARE]
    for n, reply in enumerate(REPLIES, 1):
        blocks += [[f"reader{n} says:", f"March {n}, 2024 at 10:15 am"], [reply], ["Reply"]]
    docs = run(tmp_path, ingest_cli, {"replies.txt": page(*blocks)})
    kept = docs["replies.txt"]["text"]
    for paragraph in ARTICLE:
        assert paragraph in kept
    for reply in REPLIES:
        assert reply not in kept
