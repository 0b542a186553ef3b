"""Stop-word data used by the prose-density signal.

The English list below was written for this project: it is a list of common
English function words (articles, pronouns, prepositions, conjunctions,
auxiliaries and frequent adverbs), grouped by kind.  Other languages are added
through ``BoilerplateOptions.stopwords`` (``{"de": ["der", "die", ...]}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_ENGLISH_GROUPS: tuple[str, ...] = (
    # articles and determiners
    "a an the this that these those some any each every either neither no "
    "other another such what which whose whatever whichever all both few many "
    "much more most less least several enough own same",
    # personal, possessive, reflexive pronouns
    "i me my mine myself we us our ours ourselves you your yours yourself "
    "yourselves he him his himself she her hers herself it its itself they "
    "them their theirs themselves one who whom someone something anyone "
    "anything everyone everything nobody nothing",
    # prepositions
    "about above across after against along amid among around as at before "
    "behind below beneath beside besides between beyond by despite down during "
    "except for from in inside into like near of off on onto out outside over "
    "past per since than through throughout till to toward towards under "
    "underneath until unlike up upon via with within without",
    # conjunctions and subordinators
    "and but or nor so yet because although though while whereas if unless "
    "whether once when whenever where wherever why how than lest",
    # auxiliaries and very common verbs
    "be am is are was were been being have has had having do does did doing "
    "done will would shall should can could may might must ought get got gets "
    "getting say says said make made go goes went take took",
    # frequent adverbs and particles
    "not also just only very too again ever never always often still already "
    "even then there here now well back away however perhaps rather quite "
    "almost around really",
    # clitics as left by splitting on non-word characters (don't -> don, t)
    "s t d ll re ve m don doesn didn isn aren wasn weren won wouldn couldn "
    "shouldn hasn haven hadn can cannot",
)

ENGLISH: frozenset[str] = frozenset(" ".join(_ENGLISH_GROUPS).split())

BUILTIN: dict[str, frozenset[str]] = {"en": ENGLISH}


def stopwords_for(language: str, extra: Mapping[str, Sequence[str]] | None = None) -> frozenset[str]:
    """Return the stop-word set for ``language``.

    ``extra`` (the ``stopwords`` option) adds languages or extends a built-in
    list.  An unknown language gives an empty set; the classifier then falls
    back to punctuation and length (see ``lines.compute_features``).
    """
    lang = language.lower().split("-")[0].split("_")[0]
    words: set[str] = set(BUILTIN.get(lang, ()))
    if extra:
        for key, values in extra.items():
            if key.lower().split("-")[0].split("_")[0] == lang:
                words.update(w.lower() for w in values)
    return frozenset(words)
