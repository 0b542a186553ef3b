"""Stop-word profiles: the most frequent function words of each language.

A text is scored by how many of its words are in each list, so the lists hold
short, frequent words (articles, pronouns, prepositions, auxiliaries) and
avoid words that are common in several of these languages at once where a
more telling word exists. Written for this plugin; add a language by adding
an entry here (ISO 639-1 code -> words).
"""

from __future__ import annotations

_WORDS = {
    "en": """
        the of and to in is that for it was on with as he be at by this had not are but
        from or have an they which you were her she his there been their has would will
        we what when who more said its after about into than them these could also can
        our only other then some do does did should
    """,
    "de": """
        der die und den von zu das mit sich des auf für ist im dem nicht ein eine als auch
        es werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über
        einen zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei kann
        ich wir ihr diese dieser schon wenn
    """,
    "fr": """
        le la les de des du et en un une est que qui dans pour pas au aux sur par il elle
        ne se sont ce cette avec plus ont été mais ou son sa ses nous vous ils leur comme
        tout aussi être fait très sans entre deux après dont qu d l y lui même
    """,
    "es": """
        el la los las de del y en que un una es por con para se no lo al su sus como más
        pero fue ha han este esta son también entre sobre está ya muy hasta desde donde
        cuando porque sin todo le les hay ser dos nos sido eso ella
    """,
    "it": """
        il lo la i gli le di del della dei delle e è che un una per in con non si da al
        alla nel nella sono come più ma anche questo questa ha hanno ci sua suo loro dopo
        tra fra stato essere molto quando perché o cui ne degli dell all sul
    """,
    "nl": """
        de het een en van in is dat op te zijn voor met die niet aan er om ook als bij door
        maar naar dan of wordt worden nog uit tot werd hij ze zij wij we heeft hebben kan
        over meer deze wel geen al dit was men zo nu hun
    """,
    "pt": """
        o a os as de do da dos das e em no na nos nas um uma que é para com não por se
        mais como mas foi ao ele ela seu sua ou ser quando muito já também só pelo pela até
        isso entre depois sem mesmo são está tem ter há
    """,
}

#: Language code -> its stop words.
PROFILES: dict[str, frozenset[str]] = {code: frozenset(words.split()) for code, words in _WORDS.items()}

#: The language names ``ingest plugins`` and error messages show.
NAMES: dict[str, str] = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
}
