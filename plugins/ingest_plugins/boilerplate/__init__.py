"""Boilerplate removal for plain-text dumps of web pages.

``clean(text)`` returns one :class:`LineVerdict` per line saying whether the
line is article text or page furniture, and which named rule removed it
(a named tuple ``(index, text, keep, rule, score)``).
The signals are:

* line rules (``rules.py``): link-outs, UI words, legal/cookie lines, promos,
  timestamps, bylines, keyword lists, captions, menu runs;
* jusText-style line classes resolved by their neighbours (``context.py``);
* page structure (``structure.py``): end-of-article markers followed by
  furniture, and the densest prose span of the page, with a recall floor: when
  that span holds only a small share of the page's prose, the other prose blocks
  and a numbered list next to the article are kept
  (:meth:`Cleaner.decide_with_confidence` reports such pages);
* a corpus :class:`Lexicon` of lines recurring across documents (``lexicon.py``).

Rule names (``RULE_NAMES``, usable in ``BoilerplateOptions.disabled_rules``):
``lexicon``, ``link_phrase``, ``ui_chrome``, ``legal``, ``promo``, ``timestamp``,
``byline``, ``comment_meta``, ``keyword_list``, ``caption``, ``menu_run`` (line
patterns, in this order; the first that claims a line names it), ``end_marker``,
``teaser_list``, ``before_article``, ``after_article`` (page structure),
``density`` (the line is not prose in its context) and ``blank``.

Plugins supply :class:`LineRule` objects: anything with a ``name`` and a
``__call__(page)`` yielding ``(line_index, score)`` pairs (or bare indices) of
lines to remove.  They run after the built-in line patterns and before the
structure stage, and can be disabled by name like built-in rules.

Example::

    verdicts = clean(text)
    article = kept_text(verdicts)
    removed = [(v.index, v.rule) for v in verdicts if not v.keep]
"""

from .classify import RULE_NAMES, Cleaner, LineVerdict, LowConfidence, clean, kept_text, unknown_rule_names
from .lexicon import Lexicon, LexiconEntry
from .lines import LineFeatures, Page, normalise
from .options import BoilerplateOptions
from .rules import LineRule
from .stopwords import ENGLISH as ENGLISH_STOPWORDS

__all__ = [
    "ENGLISH_STOPWORDS",
    "RULE_NAMES",
    "BoilerplateOptions",
    "Cleaner",
    "Lexicon",
    "LexiconEntry",
    "LineFeatures",
    "LineRule",
    "LineVerdict",
    "LowConfidence",
    "Page",
    "clean",
    "kept_text",
    "normalise",
    "unknown_rule_names",
]
