"""User-facing options of the boilerplate remover (they map 1:1 to config.toml)."""

from __future__ import annotations

import attrs


@attrs.define
class BoilerplateOptions:
    """Options of :func:`ingest_plugins.boilerplate.clean`.

    Every field has a default; field types are limited to ``int``, ``float``,
    ``bool``, ``str``, ``list[str]`` and ``dict[str, list[str]]`` so that they
    can be written in a config file.  Lengths are in characters unless the name
    says ``words``.
    """

    #: Language of the pages (selects the stop-word list).
    language: str = "en"
    #: Extra stop-word lists, keyed by language code (adds or extends languages).
    stopwords: dict[str, list[str]] = attrs.Factory(dict)
    #: When the page's stop-word density (lines of 8+ words) is below this, the page is
    #: taken to be in another language and its own frequent short words are used instead.
    min_page_stop_density: float = 0.12
    #: Page-derived densities are rescaled to this typical page density of prose.
    reference_stop_density: float = 0.42
    #: Size of that page-derived stop-word list (0 switches the fallback off).
    auto_stopwords: int = 30
    #: Names of built-in or plugin rules to switch off (see ``RULE_NAMES``).
    disabled_rules: list[str] = attrs.Factory(list)

    # --- line classification (jusText-style, adapted to plain text) ---
    #: Lines shorter than this are "short": their class comes from the neighbours.
    length_low: int = 70
    #: Lines longer than this with enough stop words are "good" outright.
    length_high: int = 200
    #: Stop-word density below which a long line is "bad".
    stopwords_low: float = 0.22
    #: Stop-word density from which a long line is "good" (else "near-good").
    stopwords_high: float = 0.34
    #: Sentences with at least this fraction of ``stopwords_low`` are still "near-good"
    #: (wire copy dense in names and figures); 1.0 switches this off.
    weak_prose_factor: float = 0.5
    #: A short line that is a sentence of at least this many words with enough stop words
    #: is "near-good" (0 switches this off).
    short_sentence_words: int = 5
    #: A short line takes its class from neighbours at most this many lines away; further
    #: neighbours count as furniture (0: no limit, as in jusText).
    context_max_distance: int = 2
    #: Removed furniture lines of at most this many words ("Share", "Advertisement") are
    #: looked through when a line's neighbours are sought (0 switches this off).
    transparent_max_words: int = 6
    #: A run of this many near-good paragraphs (short lines may sit between) counts as
    #: good prose even with no good paragraph next to it (0 switches this off).
    neargood_run: int = 2

    # --- pattern rules ---
    #: Extra end-of-article markers (whole lines, case-insensitive), e.g. other languages:
    #: ["weitere artikel", "lesen sie auch"].
    end_markers: list[str] = attrs.Factory(list)
    #: Extra link-out prefixes, matched at the start of a line before a separator
    #: (":", "|", "»", "-"), e.g. ["lesen sie auch"].
    link_phrases: list[str] = attrs.Factory(list)
    #: Longest line (words) that the link/UI/byline/timestamp patterns may remove.
    pattern_max_words: int = 14
    #: A keyword list needs at least this many comma/pipe-separated items.
    keyword_min_items: int = 4
    #: A run of at least this many very short lines is a menu.
    menu_min_run: int = 4
    #: "Very short" for menu runs, in words.
    menu_max_words: int = 4

    # --- page structure ---
    #: Cut at an end marker when the prose after it is at most this fraction of the prose before.
    tail_max_prose_ratio: float = 0.5
    #: An end marker above the densest prose span counts only after this many words of prose.
    marker_min_words: int = 60
    #: After an end marker, near-good lines without final punctuation count as headlines.
    marker_headline_check: bool = True
    #: This many isolated paragraphs in a row, each after 2+ title/byline/date lines, are a
    #: list of other stories (0 switches the ``teaser_list`` rule off).
    teaser_min_items: int = 3
    #: Span selection: cost of one furniture line, in words of prose.
    span_line_penalty: float = 6.0
    #: Span selection: extra cost per word of a furniture line.
    span_word_penalty: float = 0.5
    #: Span selection: byline/timestamp/comment-header lines cost this many times more
    #: (they open a new item: another story, a comment).
    span_dated_factor: float = 3.0
    #: Span selection: a gap of at most this many short non-prose lines between prose
    #: paragraphs does not split the article (0 switches this off).
    span_bridge_lines: int = 2
    #: Keep the title-like line just above the article in the text (it is metadata.title already).
    keep_title: bool = False
    #: Recall floor: when the article span holds less than this share of the page's prose words,
    #: the other prose blocks are kept too (with the list lines next to them), unless a strong signal
    #: removed them (a line rule, an end marker, the lexicon, a teaser list, a comment header
    #: above them, an excerpt cut short with "..."), and the page is reported as low-confidence
    #: (0 switches this off).
    recall_floor: float = 0.7
    #: Recall floor: a prose block outside the span is kept only from this many words of prose.
    recall_floor_min_words: int = 60
    #: A numbered list (items "1)", "2.", "3a" ... in order, three or more) that adjoins the article
    #: span is the article's own (a listing, a schedule) and is kept, unless a line rule other than
    #: the menu and keyword-list rules removed its lines.
    keep_numbered_lists: bool = True

    # --- corpus lexicon ---
    #: Path of a saved lexicon (JSON lines) to load when no ``lexicon`` is passed.
    lexicon_path: str = ""
    #: A line is boilerplate when it occurs in at least this many documents ...
    min_documents: int = 3
    #: ... and in at least this fraction of the documents (of the site, if known) ...
    min_fraction: float = 0.0
    #: ... and, for a line recurring across sites (or where the site is unknown), in at least
    #: this fraction of all documents: only very frequent lines, not those that three pages of
    #: different sites share by chance (a line that is only a number or a price never counts
    #: across sites). Every line must also recur beside different text (``min_contexts``).
    corpus_min_fraction: float = 0.02
    #: Longer lines (prose paragraphs) are counted per site only, never across sites
    #: (syndicated prose recurs across sites too).
    lexicon_max_words: int = 30
    #: A longer line is site furniture (a bio, a disclaimer) when it recurs in at least this
    #: many documents of its site (outlet, URL host or folder) ...
    long_min_documents: int = 4
    #: ... or, among the documents whose site is unknown, in at least this many ...
    unknown_min_documents: int = 6
    #: ... and in at least this fraction of them (of the site's, or of those of no known site:
    #: a story a site carries a few times among many pages is not its furniture) ...
    long_min_fraction: float = 0.1
    #: ... beside different text: the nearest lines of text around it (two above, two below)
    #: differ between its copies, at least this many surroundings counting the first copy's
    #: (a story published twice brings its own neighbours along).
    min_contexts: int = 3
