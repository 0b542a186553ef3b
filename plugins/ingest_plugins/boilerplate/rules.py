"""Named line rules: general patterns of page furniture.

Each rule is an object with a ``name`` and ``__call__(page)`` that yields
``(line index, score)`` pairs (a bare ``int`` is accepted too, score 1.0) for
the lines it removes.  This is the :class:`LineRule` protocol that plugins
implement.  The patterns describe *kinds* of furniture (link-outs, UI words,
dates, bylines, keyword lists, menus, credits), never strings of given pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..native import native_module
from .lines import LineFeatures, Page

if TYPE_CHECKING:  # pragma: no cover
    from .options import BoilerplateOptions

Removal = tuple[int, float]


def ci_search(rx: re.Pattern[str]) -> Callable[[str], re.Match[str] | None]:
    """``rx.search`` for a case-insensitive pattern whose letters are all lower case,
    faster on ASCII text: there it equals a case-sensitive search of the lower-cased
    text (same spans), which the regex engine runs without case folding."""
    plain = re.compile(rx.pattern, rx.flags & ~re.IGNORECASE).search
    folded = rx.search

    def search(text: str) -> re.Match[str] | None:
        return plain(text.lower()) if text.isascii() else folded(text)

    return search


def ci_match(rx: re.Pattern[str]) -> Callable[[str], re.Match[str] | None]:
    """Like :func:`ci_search`, for ``rx.match``."""
    plain = re.compile(rx.pattern, rx.flags & ~re.IGNORECASE).match
    folded = rx.match

    def match(text: str) -> re.Match[str] | None:
        return plain(text.lower()) if text.isascii() else folded(text)

    return match


@runtime_checkable
class LineRule(Protocol):
    """A rule that removes lines.

    ``name`` is recorded in :class:`LineVerdict.rule` for each line it removes.
    ``__call__`` receives the :class:`Page` (features of every line, options,
    outlet, lexicon and ``page.removed`` -- lines removed by earlier rules) and
    yields ``(line_index, score)`` pairs, or bare line indices.  A line already
    removed keeps the name of the first rule that removed it.  Plugin rules run
    after the built-in pattern rules and before the page-structure stage, so
    what they remove counts as furniture when the article span is chosen.
    """

    name: str

    def __call__(self, page: Page) -> Iterable[int | tuple[int, float]]: ...


# ---------------------------------------------------------------- patterns
_SEP = r"\s*(?:[:|\-–—»›>•/]|\.{3}|…)"
LINK_PHRASE_RE = re.compile(
    r"^\W{0,3}(?:also\s+read|read\s+(?:more|also|next|this|on|the\s+full\s+(?:story|article)|full\s+(?:story|article))"
    r"|more\s+(?:on|from|about|news|stories|coverage)|related(?:\s+(?:story|stories|article|articles|content|coverage|reading|video|videos|news|links?|posts?))?"
    r"|see\s+also|also\s+see|must\s+read|don'?t\s+miss|recommended|suggested|trending|watch(?:\s+(?:now|video|live))?|listen(?:\s+now)?"
    r"|next\s+(?:story|article|post|up)|previous\s+(?:story|article|post)|up\s+next|sponsored|promoted|advertisement|ad"
    r"|more|top\s+stories|video|photos?|gallery|podcast)" + _SEP,
    re.IGNORECASE,
)
# a title followed by a bracketed section tag: "Story title [VIDEO]"
TAGGED_LINK_RE = re.compile(r"\[[A-Z][A-Z &/-]{2,20}\]\W{0,2}$")
# whole line is an action link
ACTION_RE = re.compile(
    r"^\W{0,3}(?:click|tap|press)\s+(?:here|to|on|the)\b|^\W{0,3}(?:read|see|view|show|load|find\s+out|learn)\s+(?:more|all|full|less)\b"
    r"|^\W{0,3}continue\s+(?:reading|to)\b|^\W{0,3}(?:skip|jump|go|back)\s+to\s+(?:main\s+)?(?:content|navigation|top|menu|search|article)\b"
    r"|^\W{0,3}(?:sign|log)\s*(?:in|up|out)\b|^\W{0,3}subscribe\b|^\W{0,3}follow\s+(?:us|me)\b|^\W{0,3}share\s+(?:this|on|via|the|to|article|story)\b",
    re.IGNORECASE,
)
LEGAL_RE = re.compile(
    r"©|\(c\)\s*(?:19|20)\d\d|\bcopyright\s+(?:©\s*)?(?:19|20)\d\d|\ball\s+rights\s+reserved\b|\bprivacy\s+(?:policy|notice|settings)\b"
    r"|\bterms\s+(?:of|and)\s+(?:use|service|conditions)\b|\bcookie\s+(?:policy|settings|preferences|notice)\b"
    # comment and sign-up forms
    r"|\bemail\s+address\s+will\s+not\s+be\s+published\b|\brequired\s+fields\s+are\s+marked\b|\bsave\s+my\s+name\b"
    r"|\bnotify\s+me\s+of\s+(?:new|follow)|\bby\s+submitting\s+this\s+form\b|\brevoke\s+(?:this|your)\s+consent\b",
    re.IGNORECASE,
)


def _top_level_alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of a regex (no ``|`` inside classes here)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


#: the word each alternative of LEGAL_RE needs (in pattern order; None: "©", never ASCII)
_LEGAL_PART_WORDS = (
    None,
    "c",
    "copyright",
    "rights",
    "privacy",
    "terms",
    "cookie",
    "published",
    "required",
    "save",
    "notify",
    "submitting",
    "revoke",
)
#: case-sensitive searches of lower-cased ASCII text, by the word they need
_LEGAL_PARTS = {
    w: re.compile(p).search
    for w, p in zip(_LEGAL_PART_WORDS, _top_level_alternatives(LEGAL_RE.pattern), strict=True)
    if w is not None
}
COOKIE_RE = re.compile(r"\bcookies?\b", re.IGNORECASE)
COOKIE_CTX_RE = re.compile(
    r"\b(?:we|our|this\s+(?:site|website))\b.*\b(?:use|uses|using|accept|consent|store|set)\b|\baccept\b|\bbrowsing\b|\bpreferences\b",
    re.IGNORECASE,
)
_cookie_search = ci_search(COOKIE_RE)
_cookie_ctx_search = ci_search(COOKIE_CTX_RE)
PROMO_RE = re.compile(
    r"\b(?:app\s*store|google\s*play|play\s*store|download\s+(?:the|our)\s+(?:\w+\s+)?app|get\s+the\s+(?:\w+\s+)?app)\b"
    r"|\b(?:sign\s+up|subscribe|register)\b.{0,60}\b(?:newsletter|inbox|e-?mail|updates|alerts|digest|free)\b"
    r"|\b(?:newsletter|inbox)\b.{0,60}\b(?:sign\s+up|subscribe)\b"
    r"|\b(?:enable|turn\s+on)\s+javascript\b|\bad\s*-?\s*blocker\b|\bupgrade\s+your\s+browser\b"
    r"|\bfree\s+trial\b|\bsubscribers?\s+only\b|\balready\s+a\s+subscriber\b|\bunlimited\s+(?:digital\s+)?access\b",
    re.IGNORECASE,
)
CAPTION_RE = re.compile(
    r"^\W{0,3}(?:photo|image|picture|pic|file\s+photo|illustration|graphic|credit|caption|video|source|gallery)s?\b(?:\s+(?:credit|courtesy|by))?\s*[:|/©]"
    r"|\((?:image|photo|picture|pic|credit|source|video)s?\s*:[^)]{0,60}\)\W*$"
    r"|\b(?:getty\s+images|shutterstock|istock(?:photo)?|ap\s+photo|afp\s+photo|reuters/|epa-efe|photo\s+(?:credit|courtesy)|file\s+photo|(?:photo|image)\s+by)\b",
    re.IGNORECASE,
)
# gallery counters glued to captions: "1of4 A shopper looks at ...", "3 / 12"
GALLERY_RE = re.compile(r"^\s*\d{1,3}\s*(?:of|/)\s*\d{1,3}(?!\d)", re.IGNORECASE)
# alt-text / icon leftovers: a few lower-case tokens, no sentence
ALT_TEXT_RE = re.compile(r"^[a-z][a-z\-_ ]{0,40}$")

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
#: first three letters of the month names: a date with a month has a word starting so
MONTH_PREFIXES = frozenset(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)
_NUMERIC_DATE = (
    r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}[/-]\d{1,2}[/-]\d{1,2}\b"
    r"|\b\d{1,2}[:.]\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?(?![\d])"
)
# the forms of DATE_RE that need neither a month name nor "ago" (a cheap pre-check)
NUMERIC_DATE_RE = re.compile(_NUMERIC_DATE, re.IGNORECASE)
DATE_RE = re.compile(
    _NUMERIC_DATE + r"|\b" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?\b(?:,?\s+\d{4})?"
    r"|\b\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH + r"(?:,?\s+\d{4})?"
    r"|\b" + _MONTH + r",?\s+(?:19|20)\d\d\b"
    # relative times, also when glued to an icon label ("time2 hours ago")
    r"|(?:\d+|an?|one|a\s+few)\s*(?:sec|second|min|minute|hr|hour|day|week|month|year)s?\s+ago\b",
    re.IGNORECASE,
)
# DATE_RE for lower-case ASCII text (all its letters are lower case).  The lookahead
# holds the first character of every alternative (a digit, or the first letter of a
# month, "a"/"an"/"one"): the engine then skips most positions after one test.
_DATE_LOWER_RE = re.compile(r"(?=[0-9jfmasond])(?:" + DATE_RE.pattern + ")")
# NUMERIC_DATE_RE likewise (every alternative starts with a digit)
_NUMERIC_DATE_LOWER_RE = re.compile(r"(?=[0-9])(?:" + _NUMERIC_DATE + ")")


def _numeric_date_search(text: str) -> re.Match[str] | None:
    if text.isascii():
        return _NUMERIC_DATE_LOWER_RE.search(text.lower())
    return NUMERIC_DATE_RE.search(text)


_promo_search = ci_search(PROMO_RE)
_caption_search = ci_search(CAPTION_RE)
# words that may sit next to a date on a dateline/byline
DATE_WORDS = frozenset(
    [
        "updated",
        "update",
        "published",
        "posted",
        "last",
        "modified",
        "on",
        "at",
        "by",
        "and",
        "am",
        "pm",
        "a",
        "p",
        "m",
        "et",
        "est",
        "edt",
        "gmt",
        "utc",
        "bst",
        "cet",
        "cest",
        "pst",
        "pdt",
        "cst",
        "cdt",
        "ist",
        "mst",
        "mdt",
        "aest",
        "time",
        "date",
        "today",
        "yesterday",
        "ago",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thur",
        "thurs",
        "fri",
        "sat",
        "sun",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "min",
        "mins",
        "minute",
        "minutes",
        "read",
        "reading",
    ]
)
BYLINE_RE = re.compile(
    r"^\W{0,3}(?:by|written\s+by|posted\s+by|reported\s+by|words\s+by|text\s+by|story\s+by|author|reporter|editor|contributor|staff\s+writer)\b[:\s]+\S",
    re.IGNORECASE,
)
# "- Agency Name" / "• Agency Name": a bullet followed by a short proper name
BULLET_SOURCE_RE = re.compile(r"^\s*[-–—•·|]\s*[A-Z][\w.&'’-]*(?:\s+[A-Z0-9][\w.&'’-]*){0,3}\s*$")
LIST_SPLIT_RE = re.compile(r"\s*[,|•·»›;]\s*")

UI_WORDS = frozenset(
    [
        "share",
        "shares",
        "sharing",
        "shared",
        "tweet",
        "tweets",
        "twitter",
        "facebook",
        "linkedin",
        "pinterest",
        "reddit",
        "whatsapp",
        "messenger",
        "telegram",
        "email",
        "mail",
        "e",
        "print",
        "printer",
        "copy",
        "link",
        "links",
        "url",
        "comment",
        "comments",
        "commenting",
        "reply",
        "replies",
        "subscribe",
        "subscribed",
        "subscription",
        "subscriptions",
        "newsletter",
        "newsletters",
        "sign",
        "signin",
        "signup",
        "log",
        "login",
        "logout",
        "in",
        "up",
        "out",
        "register",
        "account",
        "my",
        "menu",
        "search",
        "home",
        "close",
        "open",
        "next",
        "previous",
        "prev",
        "back",
        "top",
        "to",
        "skip",
        "content",
        "main",
        "navigation",
        "nav",
        "more",
        "less",
        "show",
        "hide",
        "view",
        "all",
        "see",
        "load",
        "read",
        "advertisement",
        "advertisements",
        "advertising",
        "advertise",
        "ad",
        "ads",
        "sponsored",
        "cookie",
        "cookies",
        "accept",
        "settings",
        "privacy",
        "policy",
        "terms",
        "of",
        "use",
        "service",
        "conditions",
        "contact",
        "us",
        "about",
        "careers",
        "jobs",
        "help",
        "faq",
        "sitemap",
        "rss",
        "feed",
        "feeds",
        "follow",
        "like",
        "likes",
        "flipboard",
        "youtube",
        "instagram",
        "snapchat",
        "tiktok",
        "pocket",
        "whatsapp",
        "save",
        "saved",
        "bookmark",
        "bookmarks",
        "reprints",
        "reprint",
        "permissions",
        "gift",
        "article",
        "story",
        "video",
        "videos",
        "photo",
        "photos",
        "image",
        "images",
        "gallery",
        "play",
        "watch",
        "listen",
        "audio",
        "podcast",
        "podcasts",
        "download",
        "app",
        "apps",
        "store",
        "google",
        "apple",
        "android",
        "ios",
        "get",
        "the",
        "our",
        "a",
        "an",
        "now",
        "today",
        "free",
        "trial",
        "premium",
        "edition",
        "english",
        "select",
        "choose",
        "toggle",
        "and",
        "or",
        "here",
        "click",
        "tap",
        "report",
        "send",
        "submit",
        "cancel",
        "ok",
        "thanks",
        "loading",
        "continue",
        "reading",
        "full",
        "screen",
        "fullscreen",
        "expand",
        "collapse",
        "new",
        "latest",
        "news",
        "breaking",
        "live",
        "updates",
        "page",
        "pages",
        "this",
        "your",
        "you",
        "me",
        "follow",
        "followers",
        "following",
        "on",
        "via",
        "with",
        "for",
        "from",
        "by",
        "at",
        "min",
        "mins",
        "site",
        "sites",
        "web",
        "section",
        "sections",
        "newsroom",
        "press",
        "contributors",
        "authors",
        "author",
        "staff",
        "team",
        "store",
        "shop",
        "deals",
        "subscribe",
        "donate",
        "support",
        "partners",
        "advertiser",
        "opinion",
        "opinions",
        "sports",
        "sport",
        "weather",
        "tech",
        "technology",
        "business",
        "entertainment",
        "lifestyle",
        "politics",
        "world",
        "local",
        "national",
        "health",
        "science",
        "travel",
        "food",
        "culture",
        "arts",
        "books",
        "music",
        "movies",
        "tv",
        "style",
    ]
)
# at least one of these makes a short UI-word line furniture
UI_STRONG = frozenset(
    [
        "share",
        "shares",
        "sharing",
        "tweet",
        "twitter",
        "facebook",
        "linkedin",
        "pinterest",
        "reddit",
        "whatsapp",
        "messenger",
        "telegram",
        "email",
        "print",
        "comment",
        "comments",
        "subscribe",
        "subscription",
        "newsletter",
        "newsletters",
        "signin",
        "signup",
        "login",
        "logout",
        "register",
        "menu",
        "search",
        "skip",
        "advertisement",
        "advertisements",
        "advertising",
        "advertise",
        "ad",
        "ads",
        "sponsored",
        "cookie",
        "cookies",
        "privacy",
        "sitemap",
        "rss",
        "flipboard",
        "youtube",
        "instagram",
        "snapchat",
        "tiktok",
        "pocket",
        "bookmark",
        "reprints",
        "permissions",
        "gift",
        "download",
        "app",
        "apps",
        "toggle",
        "report",
        "loading",
        "fullscreen",
        "expand",
        "collapse",
        "donate",
    ]
)


# cheap word prefilters: a regex runs only on lines holding one of its trigger words
LEGAL_TRIGGERS = frozenset(
    [
        "copyright",
        "rights",
        "privacy",
        "terms",
        "cookie",
        "cookies",
        "c",
        "reserved",
        "published",
        "required",
        "save",
        "notify",
        "submitting",
        "revoke",
    ]
)
PROMO_TRIGGERS = frozenset(
    [
        "app",
        "apps",
        "appstore",
        "store",
        "play",
        "download",
        "sign",
        "subscribe",
        "register",
        "newsletter",
        "newsletters",
        "inbox",
        "javascript",
        "ad",
        "adblock",
        "blocker",
        "adblocker",
        "browser",
        "trial",
        "subscriber",
        "subscribers",
        "unlimited",
    ]
)
CAPTION_TRIGGERS = frozenset(
    [
        "photo",
        "photos",
        "image",
        "images",
        "picture",
        "pic",
        "illustration",
        "graphic",
        "credit",
        "caption",
        "video",
        "source",
        "gallery",
        "getty",
        "shutterstock",
        "istock",
        "istockphoto",
        "ap",
        "afp",
        "reuters",
        "epa",
        "efe",
        "courtesy",
    ]
)
COMMENT_TRIGGERS = frozenset(
    [
        "says",
        "said",
        "wrote",
        "writes",
        "replied",
        "commented",
        "comments",
        "reply",
        "report",
        "flag",
        "like",
        "dislike",
        "upvote",
        "downvote",
        "permalink",
        "edit",
        "delete",
        "quote",
        "points",
        "point",
        "likes",
        "replies",
        "upvotes",
        "votes",
        "vote",
    ]
)


#: every trigger word: one set intersection per line serves all the rules
ALL_TRIGGERS = LEGAL_TRIGGERS | PROMO_TRIGGERS | CAPTION_TRIGGERS | COMMENT_TRIGGERS | UI_STRONG | {"ago"}


def _hits(f: LineFeatures) -> frozenset[str] | set[str]:
    """The trigger words of a line (cached on it)."""
    h = f._hits
    if h is None:
        h = f._hits = ALL_TRIGGERS.intersection(f.words)
    return h


# first words that can open a link phrase or an action line (cheap prefilter)
LINK_FIRST_WORDS = frozenset(
    [
        "also",
        "read",
        "more",
        "related",
        "see",
        "must",
        "don",
        "recommended",
        "suggested",
        "trending",
        "watch",
        "listen",
        "next",
        "previous",
        "up",
        "sponsored",
        "promoted",
        "advertisement",
        "ad",
        "top",
        "video",
        "photo",
        "photos",
        "gallery",
        "podcast",
        "click",
        "tap",
        "press",
        "view",
        "show",
        "load",
        "find",
        "learn",
        "continue",
        "skip",
        "jump",
        "go",
        "back",
        "sign",
        "log",
        "subscribe",
        "follow",
        "share",
    ]
)


def _per_line_call(self: PerLineRule, page: Page) -> Iterator[Removal]:
    """``LineRule.__call__`` of a per-line rule: every line its ``match`` accepts."""
    match = self.match
    for f in page.nonblank:
        if match(f, page):
            yield f.index, 1.0


class PerLineRule(Protocol):
    """A built-in rule that judges each line on its own (``match``).

    The :class:`~ingest_plugins.boilerplate.Cleaner` runs consecutive per-line
    rules in one pass over the lines, stopping at the first rule that claims a
    line; ``max_words(options)`` is the longest line (in words) the rule can
    claim, so longer lines skip it.
    """

    name: str

    def max_words(self, o: BoilerplateOptions) -> int: ...

    def match(self, f: LineFeatures, page: Page) -> bool: ...


#: first words of a byline ("By ...", "Written by ...", "Reporter: ...")
BYLINE_FIRST_WORDS = frozenset(
    [
        "by",
        "written",
        "posted",
        "reported",
        "words",
        "text",
        "story",
        "author",
        "reporter",
        "editor",
        "contributor",
        "staff",
    ]
)
_CLAIM_FIRST_WORDS = LINK_FIRST_WORDS | BYLINE_FIRST_WORDS
_BULLETS = "-–—•·|"


_WORD_RULES: dict[str, frozenset[str]] = {}
for _names, _words in (
    (("legal",), LEGAL_TRIGGERS),
    (("promo",), PROMO_TRIGGERS),
    (("caption",), CAPTION_TRIGGERS),
    (("comment_meta",), COMMENT_TRIGGERS),
    (("ui_chrome",), UI_STRONG),
    (("timestamp", "byline"), frozenset({"ago"})),
):
    for _w in _words:
        _WORD_RULES[_w] = _WORD_RULES.get(_w, frozenset()) | frozenset(_names)
_FIRST_WORD_RULES: dict[str, frozenset[str]] = {}
for _w in LINK_FIRST_WORDS:
    _FIRST_WORD_RULES[_w] = frozenset({"link_phrase"})
for _w in BYLINE_FIRST_WORDS:
    _FIRST_WORD_RULES[_w] = _FIRST_WORD_RULES.get(_w, frozenset()) | {"byline"}
_DATE_RULES = frozenset({"timestamp", "byline"})


def candidate_rules(f: LineFeatures, o: BoilerplateOptions) -> set[str]:
    """Names of the built-in per-line rules (link_phrase ... caption) that may claim ``f``.

    Each rule has a cheap necessary condition (a trigger word, its first word or
    character, a digit for dates, separators for keyword lists); a rule not named
    here cannot claim the line, so most lines of a page run no pattern at all.
    Not valid with extra ``link_phrases`` (they can match anything).
    """
    h = f._hits
    if h is None:
        h = f._hits = ALL_TRIGGERS.intersection(f.words)
    cands: set[str] = set()
    for w in h:
        cands |= _WORD_RULES[w]
    first = _FIRST_WORD_RULES.get(f.first_word)
    if first is not None:
        cands |= first
    t = f.text
    c0 = t[0]
    if t[-1] == "]" or t.endswith("]|"):
        cands.add("link_phrase")
    if c0.isdigit():
        cands.add("caption")  # a gallery counter
    elif c0 in _BULLETS:
        cands.add("byline")  # "- Agency"
    n = f.n_words
    if n <= 3 and not f.ends_sentence and "a" <= c0 <= "z":
        cands.add("caption")  # alt text
    if "©" in t:
        cands.add("legal")
    if n <= o.pattern_max_words and "timestamp" not in cands and _DIGIT_RE.search(t) is not None:
        cands |= _DATE_RULES
    if n >= o.keyword_min_items and f.stop_density <= 0.2:
        seps = t.count(",") + t.count("|") + t.count(";")
        if not t.isascii():
            seps += t.count("•") + t.count("·") + t.count("»") + t.count("›")
        if seps >= o.keyword_min_items - 1:
            cands.add("keyword_list")
    return cands


def rule_candidates(
    lines: list[LineFeatures], o: BoilerplateOptions, names: Iterable[str]
) -> dict[str, list[LineFeatures]]:
    """For each built-in per-line rule in ``names``, the lines (of ``lines``, all with
    words) that it may claim: the same necessary conditions as :func:`candidate_rules`,
    computed rule by rule over the page.  A line may be listed twice; any other line
    cannot be claimed by that rule.  Not valid with extra ``link_phrases``.

    The compiled ``_features.candidates`` reads the lines the feature pass made in one
    pass; :func:`rule_candidates_python` is its twin (and decides for other lines).
    """
    if _native is not None:
        # both bounds act the same anywhere past the word counts of a line
        pmw = min(max(o.pattern_max_words, -1), 1 << 40)
        kmi = min(max(o.keyword_min_items, -(1 << 40)), 1 << 40)
        got = _native.candidates(LineFeatures, lines, pmw, kmi, _WORD_BITS, _FIRST_BITS)
        if got is not None:
            legal, promo, caption, comment, ui, ago, first_link, tag_end, copyright_, digit_first = got[:10]
            alt_text, dated, first_byline, bullet, keyword = got[10:]
            dated = ago + dated
            lists = {
                "legal": legal + copyright_,
                "promo": promo,
                "caption": caption + digit_first + alt_text,
                "comment_meta": comment,
                "ui_chrome": ui,
                "link_phrase": first_link + tag_end,
                "timestamp": dated,
                "byline": dated + first_byline + bullet,
                "keyword_list": keyword,
            }
            return {name: lists[name] for name in set(names) if name in lists}
    return rule_candidates_python(lines, o, names)


def rule_candidates_python(
    lines: list[LineFeatures], o: BoilerplateOptions, names: Iterable[str]
) -> dict[str, list[LineFeatures]]:
    """:func:`rule_candidates` in Python."""
    names = set(names)
    out: dict[str, list[LineFeatures]] = {}
    # lines holding trigger words, with those words (compute_features usually found them)
    hl = [(f, h) for f in lines if (h := f._hits if f._hits is not None else _hits(f))]
    for name, trig in _TRIGGER_RULES:
        if name in names:
            out[name] = [f for f, h in hl if not trig.isdisjoint(h)]
    # lines opening with a link/byline word
    get_first = _FIRST_WORD_RULES.get
    # (a line of CJK punctuation has a word count but no words: its first word is "")
    first = [(f, r) for f in lines if (r := get_first(f.first_word)) is not None]
    # lines with an unusual first or last character, or a copyright sign
    odd = [f for f in lines if not f.text[0].isalpha() or f.text[-1] in "]|" or "©" in f.text]
    # short lines (dates need a digit, alt text is lower-case words)
    pmw = o.pattern_max_words
    short = [f for f in lines if f.n_words <= pmw or f.n_words <= 3]
    if "link_phrase" in names:
        out["link_phrase"] = [f for f, r in first if "link_phrase" in r] + [
            f for f in odd if f.text.endswith(_TAG_ENDS)
        ]
    if "legal" in names:
        out["legal"] += [f for f in odd if "©" in f.text]
    if "caption" in names:
        out["caption"] += [f for f in odd if f.text[0].isdigit()] + [
            f for f in short if f.n_words <= 3 and not f.ends_sentence and "a" <= f.text[0] <= "z"
        ]
    if "timestamp" in names or "byline" in names:
        search = _DIGIT_RE.search
        dated = [f for f, h in hl if "ago" in h]
        dated += [f for f in short if f.n_words <= pmw and search(f.text) is not None]
        if "timestamp" in names:
            out["timestamp"] = dated
        if "byline" in names:
            out["byline"] = (
                dated + [f for f, r in first if "byline" in r] + [f for f in odd if f.text[0] in _BULLETS]
            )
    if "keyword_list" in names:
        kmi = o.keyword_min_items
        out["keyword_list"] = [f for f in lines if f.n_words >= kmi and f.stop_density <= 0.2]
    return out


_TAG_ENDS = ("]", "]|")
_TRIGGER_RULES = (
    ("legal", LEGAL_TRIGGERS),
    ("promo", PROMO_TRIGGERS),
    ("caption", CAPTION_TRIGGERS),
    ("comment_meta", COMMENT_TRIGGERS),
    ("ui_chrome", UI_STRONG),
)
#: for ``_features.candidates``: the rules each trigger word serves (bits in _TRIGGER_RULES order, then
#: "ago") and those a first word opens (1: link_phrase, 2: byline)
_WORD_BITS = {
    w: sum(1 << k for k, (_, trig) in enumerate(_TRIGGER_RULES) if w in trig) | (32 if w == "ago" else 0)
    for w in ALL_TRIGGERS
}
_FIRST_BITS = {w: ("link_phrase" in r) | ("byline" in r) << 1 for w, r in _FIRST_WORD_RULES.items()}
_native = native_module("ingest_plugins.boilerplate._features")


def phrases_regex(phrases: list[str], tail: str) -> re.Pattern[str] | None:
    """A case-insensitive regex matching any of ``phrases`` at the start of a line, then ``tail``."""
    parts = [r"\s+".join(re.escape(w) for w in p.split()) for p in phrases if p.strip()]
    if not parts:
        return None
    return re.compile(r"^\W{0,3}(?:" + "|".join(parts) + ")" + tail, re.IGNORECASE)


class LinkPhraseRule:
    """Link-outs and calls to action: "Also Read | ...", "READ MORE: ...", "Click here ..."."""

    name = "link_phrase"

    def __init__(self, extra: list[str] | None = None) -> None:
        self.extra = phrases_regex(extra or [], _SEP)

    def max_words(self, o: BoilerplateOptions) -> int:
        return o.pattern_max_words + 10  # link-outs carry a whole title

    def match(self, f: LineFeatures, page: Page) -> bool:
        if not f.n_words or f.n_words > page.options.pattern_max_words + 10:
            return False
        t = f.text
        if self.extra is not None and self.extra.match(t):
            return True
        tagged = t.endswith(("]", "]|", "] "))
        if f.first_word not in LINK_FIRST_WORDS and not tagged:
            return False
        return bool(
            LINK_PHRASE_RE.match(t)
            or (f.n_words <= page.options.pattern_max_words and ACTION_RE.match(t))
            or (tagged and not f.ends_sentence and TAGGED_LINK_RE.search(t))
        )

    __call__ = _per_line_call


class UiChromeRule:
    """Short lines made of interface words only ("Share", "Sign in", "Advertisement", "12 Comments")."""

    name = "ui_chrome"

    def max_words(self, o: BoilerplateOptions) -> int:
        return 6

    def match(self, f: LineFeatures, page: Page) -> bool:
        if not f.n_words or f.n_words > 6 or f.n_sentences > 1:
            return False
        words = f.words
        if UI_STRONG.isdisjoint(words):
            return False
        for w in words:  # noqa: SIM110 - a plain loop on the per-line path
            if w not in UI_WORDS and w not in UI_STRONG and not w.isdigit():
                return False
        return True

    __call__ = _per_line_call


class LegalRule:
    """Copyright lines, legal links and cookie notices."""

    name = "legal"

    def max_words(self, o: BoilerplateOptions) -> int:
        return 80

    def match(self, f: LineFeatures, page: Page) -> bool:
        if not f.n_words or f.n_words > 80:
            return False
        t = f.text
        if LEGAL_TRIGGERS.isdisjoint(_hits(f)) and "©" not in t:
            return False
        if f.n_words <= 40:
            if t.isascii():
                # only the alternatives of LEGAL_RE whose word the line has can match
                lt = t.lower()
                for w in LEGAL_TRIGGERS.intersection(f.words):
                    part = _LEGAL_PARTS.get(w)
                    if part is not None and part(lt) is not None:
                        return True
            elif LEGAL_RE.search(t):
                return True
        return bool(_cookie_search(t) and _cookie_ctx_search(t))

    __call__ = _per_line_call


class PromoRule:
    """App-store banners, newsletter sign-ups, paywall and ad-blocker notices."""

    name = "promo"

    def max_words(self, o: BoilerplateOptions) -> int:
        return 30

    def match(self, f: LineFeatures, page: Page) -> bool:
        return bool(
            f.n_words
            and f.n_words <= 30
            and not PROMO_TRIGGERS.isdisjoint(_hits(f))
            and _promo_search(f.text)
        )

    __call__ = _per_line_call


class CaptionRule:
    """Photo credits and image alt-text leftovers ("logo", "Photo: Getty Images")."""

    name = "caption"

    def max_words(self, o: BoilerplateOptions) -> int:
        return 60

    def match(self, f: LineFeatures, page: Page) -> bool:
        n = f.n_words
        if not n or n > 60:
            return False
        t = f.text
        if n <= 3 and not f.ends_sentence and ALT_TEXT_RE.match(t):
            return True
        if (
            n <= 15
            and f.n_sentences <= 1
            and not CAPTION_TRIGGERS.isdisjoint(_hits(f))
            and _caption_search(t)
        ):
            return True
        return t[0].isdigit() and GALLERY_RE.match(t) is not None

    __call__ = _per_line_call


_DIGIT_RE = re.compile(r"\d")


def _month_next_to_number(words: list[str]) -> bool:
    """Is a word starting like a month name next to a word starting with a digit?

    Every month form of ``DATE_RE`` ("Nov 19", "19th November", "May, 2019") puts a
    whole word with a month prefix right next to a number (only spaces, a dot or
    a comma between), so without such a pair only its other forms can match.
    """
    pre = [w[:3] for w in words]
    if MONTH_PREFIXES.isdisjoint(pre):
        return False
    last = len(words) - 1
    for k, p in enumerate(pre):
        if p in MONTH_PREFIXES and (
            (k < last and words[k + 1][:1].isdigit()) or (k > 0 and words[k - 1][:1].isdigit())
        ):
            return True
    return False


def _date_residue(page: Page, f: LineFeatures) -> int | None:
    """Words left on a line once dates and dateline words are taken out (None: no date)."""
    n = f._date  # cached on the line: timestamp and byline both ask
    if n != -2:
        return None if n < 0 else n
    t = f.text
    # every form of DATE_RE needs a digit, except relative times ("an hour ago"); with a
    # digit it needs a month name, "ago" or a numeric date/time: check those cheaply first
    if _DIGIT_RE.search(t) is None:
        candidate = "ago" in _hits(f)
    else:
        candidate = "ago" in _hits(f) or _month_next_to_number(f.words) or _numeric_date_search(t) is not None
    if not candidate:
        f._date = -1
        return None
    # one pass finds the dates and takes them out; on an ASCII line, matching the
    # lower-cased line case-sensitively gives the same spans, faster
    rest, found = _DATE_LOWER_RE.subn(" ", t.lower()) if t.isascii() else DATE_RE.subn(" ", t)
    if not found:
        f._date = -1
        return None
    n = 0
    for w in rest.lower().split():
        w = w.strip(".,:;|•·-–—()[]")
        if w and w not in DATE_WORDS and not w.isdigit():
            n += 1
    f._date = n
    return n


class TimestampRule:
    """Lines that are only a date/time ("Nov 19, 2019, 8:15 pm", "2 hours ago")."""

    name = "timestamp"

    def max_words(self, o: BoilerplateOptions) -> int:
        return o.pattern_max_words

    def match(self, f: LineFeatures, page: Page) -> bool:
        if not f.n_words or f.n_words > page.options.pattern_max_words:
            return False
        r = _date_residue(page, f)
        return r is not None and r <= 1

    __call__ = _per_line_call


class BylineRule:
    """Author/source lines: "By Jane Doe", "- Agency", "Jane Doe - Nov 19, 2019"."""

    name = "byline"

    def max_words(self, o: BoilerplateOptions) -> int:
        return o.pattern_max_words

    def match(self, f: LineFeatures, page: Page) -> bool:
        if not f.n_words or f.n_words > page.options.pattern_max_words or f.n_sentences > 1:
            return False
        t = f.text
        if f.n_words <= 10 and f.n_stop <= 3 and BYLINE_RE.match(t):
            return True
        if f.n_words <= 4 and BULLET_SOURCE_RE.match(t):
            return True
        if f.n_stop > 2:
            return False
        r = _date_residue(page, f)
        # a name or outlet next to a date, not a sentence about a date
        return r is not None and r <= 5 and f.cap_ratio >= 0.5

    __call__ = _per_line_call


class KeywordListRule:
    """Comma/pipe separated keyword or tag lists and inline menus ("Home | News | Sport")."""

    name = "keyword_list"

    def max_words(self, o: BoilerplateOptions) -> int:
        return 1 << 30

    def match(self, f: LineFeatures, page: Page) -> bool:
        min_items = page.options.keyword_min_items
        if f.n_words < min_items or f.stop_density > 0.2:
            return False
        t = f.text
        # a real enumeration in a sentence has function words and ends with a period
        if t.endswith(".") and f.stop_density > 0.08:
            return False
        if (
            t.count(",")
            + t.count("|")
            + t.count(";")
            + (0 if t.isascii() else t.count("•") + t.count("·") + t.count("»") + t.count("›"))
            < min_items - 1
        ):
            return False
        items = [x for x in LIST_SPLIT_RE.split(t.rstrip(".")) if x]
        if len(items) < min_items:
            return False
        lens = [len(x.split()) for x in items]
        return not (max(lens) > 6 or sum(lens) / len(lens) > 4)

    __call__ = _per_line_call


class MenuRunRule:
    """Runs of very short lines without sentence punctuation: navigation menus."""

    name = "menu_run"

    def __call__(self, page: Page) -> Iterator[Removal]:
        opts = page.options
        min_run = opts.menu_min_run
        max_words = opts.menu_max_words
        run: list[int] = []
        out: list[Removal] = []
        for f in page.features:
            nw = f.n_words
            if nw and nw <= max_words and not f.ends_sentence:
                run.append(f.index)
            elif (nw or f.n_chars) and run:  # blank lines do not break a run
                if len(run) >= min_run:
                    out.extend([(i, 1.0) for i in run])
                run = []
        if len(run) >= min_run:
            out.extend([(i, 1.0) for i in run])
        return iter(out)


COMMENT_META_RE = re.compile(
    r"(?:\b(?:says|said|wrote|writes|replied|commented|comments)\s*:?\s*$)"
    r"|^\W{0,3}(?:reply|report(?:\s+(?:abuse|comment))?|flag|like|dislike|upvote|downvote|permalink|edit|delete|quote)\W{0,3}$"
    r"|^\W{0,3}\d+\s+(?:points?|likes?|replies|upvotes?|votes?)\W{0,3}$"
    r"|^\W{0,3}(?:in\s+)?reply\s+to\s+\S.{0,60}$",
    re.IGNORECASE,
)

_comment_meta_search = ci_search(COMMENT_META_RE)


class CommentMetaRule:
    """Comment furniture: "jane says:", "Bob on May 2, 2019 at 4:47 pm said:", "Reply", "12 likes"."""

    name = "comment_meta"

    def max_words(self, o: BoilerplateOptions) -> int:
        return 14

    def match(self, f: LineFeatures, page: Page) -> bool:
        return bool(
            f.n_words
            and f.n_words <= 14
            and f.n_sentences <= 1
            and not COMMENT_TRIGGERS.isdisjoint(_hits(f))
            and _comment_meta_search(f.text)
        )

    __call__ = _per_line_call


def pattern_rules(link_phrases: list[str] | None = None) -> list[LineRule]:
    """The built-in pattern rules, in the order they are tried."""
    return [
        LinkPhraseRule(link_phrases),
        UiChromeRule(),
        LegalRule(),
        PromoRule(),
        TimestampRule(),
        BylineRule(),
        CommentMetaRule(),
        KeywordListRule(),
        CaptionRule(),
        MenuRunRule(),
    ]
