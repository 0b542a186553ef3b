"""Property tests: clean never raises and covers every line exactly once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_plugins.boilerplate import BoilerplateOptions, Lexicon, clean, kept_text

_pieces = st.sampled_from(
    [
        "",
        " ",
        "Share",
        "Related Articles",
        "Comments",
        "By Jane Doe",
        "2 hours ago",
        "Also Read | Something else happened",
        "a, b, c, d, e",
        "The council said on Monday that the new bus routes would open in the spring, after two years of debate.",
        "Nov 19, 2019, 8:15 pm",
        "東京で新しい駅が開業し、多くの人が訪れました。",
        "Der Rat hat am Dienstag beschlossen, das Busnetz zu erweitern.",
        "©",
        "\t\r",
    ]
)
_lines = st.lists(st.one_of(_pieces, st.text(max_size=80)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_lines)
def test_clean_covers_every_line_once(lines: list[str]) -> None:
    text = "\n".join(lines)
    verdicts = clean(text)
    assert [v.index for v in verdicts] == list(range(len(text.split("\n"))))
    assert [v.text for v in verdicts] == text.split("\n")
    for v in verdicts:
        assert v.keep == (v.rule is None)
        assert 0.0 <= v.score <= 1.0
    kept_text(verdicts)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400), st.sampled_from(["en", "xx"]), st.booleans())
def test_clean_never_raises_on_any_text(text: str, language: str, keep_title: bool) -> None:
    lex = Lexicon(min_documents=1).fit(["Share\nMenu"])
    opts = BoilerplateOptions(language=language, keep_title=keep_title)
    verdicts = clean(text, opts, lexicon=lex, outlet="x")
    assert len(verdicts) == len(text.split("\n"))
