"""Text normalisation, exact-duplicate keys and word tokenisation."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
# Words are Unicode \w runs: punctuation (curly vs straight quotes, dashes)
# never changes a shingle, which is what syndicated copies differ in.
_WORD = re.compile(r"\w+")


def normalize_text(text: str, *, case: bool = True, unicode: bool = True, whitespace: bool = True) -> str:
    """Return ``text`` normalised for comparison.

    ``unicode``: NFKC (folds compatibility forms such as full-width letters and
    ligatures); ``case``: ``str.casefold``; ``whitespace``: every whitespace
    run (``\\r\\n``, tabs, trailing spaces) becomes one space, ends stripped.
    """
    if not whitespace and text.isascii():  # the common case (the dedup engine's): one call
        return text.lower() if case else text
    if unicode and not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        # the quick check is ~4x cheaper than normalising already-normal text
        text = unicodedata.normalize("NFKC", text)
    if case:
        text = text.lower() if text.isascii() else text.casefold()  # identical on ASCII, faster
    if whitespace:
        text = _WS.sub(" ", text).strip()
    return text


def tokenize(normalized: str) -> list[str]:
    """Word tokens (``\\w+`` runs) of already normalised text."""
    return _WORD.findall(normalized)
