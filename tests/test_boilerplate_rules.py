"""Rules: disabling, validation, plugins, structure cuts, edge cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingest_plugins.boilerplate import (
    RULE_NAMES,
    BoilerplateOptions,
    Cleaner,
    LineRule,
    Page,
    clean,
    kept_text,
    unknown_rule_names,
)

SEEDS = Path(__file__).parent.parent / "samples" / "seeds"

# Synthetic article text written for these tests.
PARAS = [
    "The city council voted on Tuesday to extend the bus network to the northern suburbs, a plan that has "
    "been debated for more than two years and that many residents had long asked for.",
    "Supporters of the project said the new routes would cut commuting times for thousands of workers, while "
    "critics warned that the costs had been underestimated and that the money could have been spent elsewhere.",
    "The first buses are expected to run in the spring, and the council said it would review the service after "
    "six months to see whether the timetable should be changed or more stops should be added to the line.",
    "Officials also announced that fares would stay the same for at least a year, and that students and older "
    "residents would continue to travel at a reduced price on all of the routes in the network.",
]


def _article(*extra_middle: str) -> list[str]:
    return [PARAS[0], PARAS[1], *extra_middle, PARAS[2], PARAS[3]]


def test_rule_names_are_unique_and_documented() -> None:
    assert len(RULE_NAMES) == len(set(RULE_NAMES))
    for name in (
        "lexicon",
        "link_phrase",
        "end_marker",
        "before_article",
        "after_article",
        "density",
        "blank",
    ):
        assert name in RULE_NAMES


def test_disabled_rule_no_longer_appears() -> None:
    text = "\n".join(_article("Also Read | Council approves new budget for parks"))
    names = {v.rule for v in clean(text)}
    assert "link_phrase" in names
    opts = BoilerplateOptions(disabled_rules=["link_phrase"])
    assert "link_phrase" not in {v.rule for v in clean(text, opts)}


def test_disabling_end_marker_keeps_the_tail_from_that_rule() -> None:
    seed = sorted(SEEDS.glob("002_*.txt"))[0].read_text(encoding="utf-8")
    opts = BoilerplateOptions(disabled_rules=["end_marker"])
    assert "end_marker" not in {v.rule for v in clean(seed, opts)}


def test_unknown_rule_names_are_detected() -> None:
    opts = BoilerplateOptions(disabled_rules=["link_phrase", "no_such_rule"])
    assert unknown_rule_names(opts) == ["no_such_rule"]

    class Mine:
        name = "mine"

        def __call__(self, page: Page) -> Iterator[int]:
            return iter(())

    opts = BoilerplateOptions(disabled_rules=["mine"])
    assert unknown_rule_names(opts) == ["mine"]
    assert unknown_rule_names(opts, [Mine()]) == []


class DropLinesWithWord:
    """A plugin rule: removes lines that contain a given word."""

    def __init__(self, word: str) -> None:
        self.name = "plugin_word"
        self.word = word

    def __call__(self, page: Page) -> Iterator[tuple[int, float]]:
        for f in page.features:
            if self.word in f.words:
                yield f.index, 0.9


def test_plugin_rule_is_applied_and_named() -> None:
    rule = DropLinesWithWord("students")
    assert isinstance(rule, LineRule)
    text = "\n".join(_article())
    verdicts = clean(text, extra_rules=[rule])
    v = verdicts[3]  # PARAS[3] mentions students
    assert not v.keep and v.rule == "plugin_word"
    assert all(x.keep for x in verdicts[:3])
    # and it can be disabled by name like a built-in rule
    opts = BoilerplateOptions(disabled_rules=["plugin_word"])
    assert all(x.keep for x in clean(text, opts, extra_rules=[rule]))


def test_document_without_furniture_is_unchanged() -> None:
    text = "\n".join(_article())
    verdicts = clean(text)
    assert all(v.keep for v in verdicts)
    assert kept_text(verdicts) == text


def test_heading_between_paragraphs_is_kept() -> None:
    lines = _article("Where the money comes from")
    verdicts = clean("\n".join(lines))
    assert verdicts[2].keep


def test_marker_word_inside_article_does_not_empty_it() -> None:
    lines = [PARAS[0], "Comments", PARAS[1], PARAS[2], "Related Articles", PARAS[3]]
    verdicts = clean("\n".join(lines))
    for i in (0, 2, 3, 5):
        assert verdicts[i].keep, verdicts[i]


def test_end_marker_cuts_other_stories() -> None:
    lines = [
        *_article(),
        "Related Articles",
        "Harbour festival returns",
        "3 hours ago",
        "By Staff Reporter",
        "The harbour festival will return next month with concerts and markets, the organisers said on Monday "
        "after a year in which the event had been cancelled because of the storms.",
        "Museum opens new wing",
        "5 hours ago",
        "By Staff Reporter",
        "The museum opened a new wing for modern art on Sunday, and visitors queued for hours to see the works "
        "that had been kept in storage for many years before the building was finished.",
    ]
    verdicts = clean("\n".join(lines))
    assert all(v.keep for v in verdicts[:4])
    assert not any(v.keep for v in verdicts[4:])
    # the teasers are prose: the end-of-article cut is what removes them
    assert verdicts[8].rule == verdicts[12].rule == "end_marker"


def test_pattern_rules_catch_general_furniture() -> None:
    furniture = {
        "Facebook Twitter Email": "ui_chrome",
        "Share on Facebook": "link_phrase",
        "© 2024 Example Media. All rights reserved.": "legal",
        "Nov 19, 2019, 8:15 pm CST": "timestamp",
        "By Jane Example": "byline",
        "city buses, public transport, council budget, northern suburbs, commuting": "keyword_list",
        "Jane Example / Getty Images": "caption",
        "Download the Example app from the App Store": "promo",
    }
    lines = [PARAS[0], PARAS[1], *furniture, PARAS[2], PARAS[3]]
    verdicts = clean("\n".join(lines))
    got = {v.text: v.rule for v in verdicts[2:-2]}
    assert got == furniture


def test_empty_and_single_line_texts() -> None:
    assert [(v.index, v.keep) for v in clean("")] == [(0, False)]
    assert kept_text(clean("")) == ""
    one = clean("Hello")
    assert len(one) == 1 and one[0].keep  # the structure stage alone never empties a page
    assert len(clean("\n\n\n")) == 4


def test_blank_lines_between_kept_lines() -> None:
    text = "\n\n".join(_article())
    verdicts = clean(text)
    assert all(v.keep for v in verdicts)
    assert kept_text(verdicts) == text
    assert kept_text(clean("\n\n" + text + "\n\n\n")) == text


def test_other_language_with_own_stopwords() -> None:
    # a language unknown to the package still gets its prose kept and menus dropped
    menu = ["Startseite", "Politik", "Wirtschaft", "Sport", "Kultur"]
    body = [
        "Der Stadtrat hat am Dienstag beschlossen, das Busnetz in die nördlichen Vororte zu erweitern, und die "
        "Anwohner hatten sich das seit langem gewünscht.",
        "Die ersten Busse sollen im Frühjahr fahren, und der Rat will den Dienst nach sechs Monaten prüfen, um zu "
        "sehen, ob der Fahrplan geändert werden muss.",
        "Die Preise bleiben mindestens ein Jahr lang gleich, und Schüler und ältere Menschen fahren weiter zu einem "
        "ermäßigten Preis auf allen Linien.",
    ]
    opts = BoilerplateOptions(
        language="de", stopwords={"de": ["der", "die", "das", "und", "in", "zu", "ein", "den"]}
    )
    verdicts = clean("\n".join(menu + body), opts)
    assert [v.keep for v in verdicts] == [False] * len(menu) + [True] * len(body)


def test_cleaner_is_reusable_and_pure() -> None:
    text = "\n".join(_article("Share on Twitter"))
    c = Cleaner(BoilerplateOptions())
    assert c(text) == c(text) == clean(text)


def test_extra_markers_and_link_phrases_from_options() -> None:
    lines = [
        *_article("Lesen Sie auch: Ein anderer Artikel"),
        "Weitere Artikel",
        "Harbour festival returns",
        "3 hours ago",
        "The harbour festival will return next month with concerts and markets, the organisers said on Monday "
        "after a year in which the event had been cancelled because of the storms.",
        "Museum opens new wing",
        "5 hours ago",
        "The museum opened a new wing for modern art on Sunday, and visitors queued for hours to see the works "
        "that had been kept in storage for many years before the building was finished.",
    ]
    text = "\n".join(lines)
    opts = BoilerplateOptions(end_markers=["weitere artikel"], link_phrases=["lesen sie auch"])
    verdicts = clean(text, opts)
    assert verdicts[2].rule == "link_phrase"
    assert [v.keep for v in verdicts[:6]] == [True, True, False, True, True, False]
    assert not any(v.keep for v in verdicts[6:])
    assert verdicts[9].rule == "end_marker"


# --- regression: one or two furniture lines inside the article do not split it

MARKET = [
    "The market opened higher on Monday as investors weighed fresh data on inflation and jobs.",
    "Analysts said the rally could continue if the central bank holds rates steady next month.",
    "Bond yields fell for a third day, and the dollar slipped against most of the major currencies.",
]


def test_single_junk_line_does_not_split_the_article() -> None:
    for sep in ("\n", "\n\n"):
        lines = [MARKET[0], "$AAPL +1.2% $MSFT -0.4%", MARKET[1], MARKET[2]]
        verdicts = [v for v in clean(sep.join(lines)) if v.text.strip()]
        assert [v.keep for v in verdicts] == [True, False, True, True], verdicts
        assert verdicts[1].rule == "density"


def test_junk_line_between_two_short_paragraphs_keeps_both() -> None:
    text = "\n".join([MARKET[0], "$AAPL +1.2% $MSFT -0.4%", MARKET[1]])
    out = kept_text(clean(text))
    assert MARKET[0] in out and MARKET[1] in out and "$AAPL" not in out


def test_two_short_lines_between_paragraphs_do_not_cut_a_short_paragraph_off() -> None:
    lead = "The vote was very close. In the end, the plan was passed by a single vote."
    furniture = ["Download the Example app from the App Store", "Photo: Jane Example / Example Agency"]
    lines = [lead, *furniture, PARAS[0], PARAS[1], PARAS[2]]
    verdicts = clean("\n".join(lines))
    assert verdicts[0].keep, verdicts[0]
    assert not verdicts[1].keep and not verdicts[2].keep
    assert all(v.keep for v in verdicts[3:])
    # a longer run of furniture does separate it
    verdicts = clean("\n".join([lead, *furniture, "Privacy policy", "Terms of use", PARAS[0], PARAS[1]]))
    assert not verdicts[0].keep and verdicts[0].rule == "before_article"


def test_run_of_furniture_still_separates_other_prose() -> None:
    other = (
        "A different story about the weather in the mountains, where snow fell overnight and several roads "
        "were closed for hours."
    )
    furniture = [
        "Newsletter",
        "Sign up for our newsletter",
        "Privacy policy",
        "Terms of use",
        "Contact us",
        "Careers",
    ]
    lines = [*_article(), *furniture, other]
    verdicts = clean("\n".join(lines))
    assert all(v.keep for v in verdicts[:4])
    assert not verdicts[-1].keep


# --- regression: a page made only of furniture comes out empty


def test_all_furniture_pages_come_out_empty() -> None:
    pages = [
        "Home\nNews\nSport\nWeather\nLog in\nPrivacy policy",
        "Share on Facebook\nShare on Twitter\nWe use cookies to improve your experience. Accept\n"
        "© 2024 Example Media. All rights reserved.",
        "Log in",
        "Share on Facebook",
    ]
    for page in pages:
        assert kept_text(clean(page)) == "", page


def test_short_plain_prose_documents_are_kept() -> None:
    for text in (
        "A line of real article text that stays where it is.",
        "The bridge reopened on Sunday. Drivers said the detour had cost them an hour a day.",
        "The bridge reopened on Sunday after repairs.\nDrivers said the detour had cost them an hour a day.",
    ):
        assert kept_text(clean(text)) == text
