"""Corpus-level lexicon of recurring lines (site furniture learnt from many pages).

Lines that recur across many documents -- above all across documents of the
same outlet -- are boilerplate: menus, footers, newsletter boxes.  The lexicon
counts normalised lines (lower case, digits as ``0``, punctuation as spaces),
each line once per document, overall and per outlet.  Long lines are not
counted: syndicated article prose recurs across outlets too.

Two-pass use::

    lex = Lexicon(min_documents=3)
    for text, outlet in corpus:
        lex.add_document(text, outlet)
    lex.save("lexicon.jsonl")          # human-readable, reviewable
    clean(text, lexicon=lex, outlet=outlet)

or later ``Lexicon.load("lexicon.jsonl")`` / ``BoilerplateOptions(lexicon_path=...)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .lines import Page, normalise

if TYPE_CHECKING:  # pragma: no cover
    from .options import BoilerplateOptions

FORMAT = "ingest-boilerplate-lexicon"
VERSION = 1


@attrs.frozen
class LexiconEntry:
    """One recurring line: its normalised text, document count and per-outlet counts."""

    line: str
    documents: int
    outlets: dict[str, int]


class Lexicon:
    """Counts of normalised lines over a corpus, with boilerplate thresholds.

    A line is boilerplate when it occurs in at least ``min_documents``
    documents and in at least ``min_fraction`` of all documents, *or* when it
    occurs in at least ``min_documents`` documents of the given outlet and in at
    least ``min_fraction`` of that outlet's documents.
    """

    def __init__(self, min_documents: int = 3, min_fraction: float = 0.0, max_words: int = 30) -> None:
        self.min_documents = min_documents
        self.min_fraction = min_fraction
        self.max_words = max_words
        self.documents = 0
        self.outlet_documents: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._outlets: dict[str, Counter[str]] = {}

    @classmethod
    def from_options(cls, options: BoilerplateOptions) -> Lexicon:
        """An empty lexicon with the thresholds of ``options`` (``min_documents``,
        ``min_fraction``, ``lexicon_max_words``), for the two-pass mode."""
        return cls(options.min_documents, options.min_fraction, options.lexicon_max_words)

    # ------------------------------------------------------------ building
    def add_document(self, text: str, outlet: str | None = None) -> None:
        """Count the distinct normalised lines of one document (once each)."""
        keys = set()
        for line in text.split("\n"):
            key = normalise(line)
            if key and len(key.split()) <= self.max_words:
                keys.add(key)
        self.documents += 1
        if outlet is not None:
            self.outlet_documents[outlet] += 1
        for key in keys:
            self._counts[key] += 1
            if outlet is not None:
                self._outlets.setdefault(key, Counter())[outlet] += 1

    def fit(self, texts: list[str] | list[tuple[str, str | None]]) -> Lexicon:
        """Add many documents (plain texts or ``(text, outlet)`` pairs); returns ``self``."""
        for item in texts:
            if isinstance(item, tuple):
                self.add_document(item[0], item[1])
            else:
                self.add_document(item)
        return self

    def finalize(self) -> Lexicon:
        """Drop entries that can never pass the thresholds (smaller file, faster lookups)."""
        floor = max(1, self.min_documents)
        self._counts = Counter({k: v for k, v in self._counts.items() if v >= floor})
        self._outlets = {k: c for k, c in self._outlets.items() if k in self._counts}
        return self

    build = finalize

    # ------------------------------------------------------------ queries
    def count(self, line: str) -> int:
        """Number of documents containing ``line`` (normalised)."""
        return self._counts.get(normalise(line), 0)

    def lookup(self, line: str) -> LexiconEntry | None:
        """The entry of ``line`` (normalised), or None."""
        key = normalise(line)
        n = self._counts.get(key)
        if not n:
            return None
        return LexiconEntry(key, n, dict(self._outlets.get(key, {})))

    def is_boilerplate_key(self, key: str, outlet: str | None = None) -> bool:
        """Threshold test on an already normalised line."""
        return self.match_key(key, outlet) is not None

    def match_key(self, key: str, outlet: str | None = None) -> str | None:
        """``"outlet"`` when the line recurs within ``outlet``, ``"corpus"`` when it recurs
        across the corpus, else None."""
        if outlet is not None:
            per = self._outlets.get(key)
            if per:
                k = per.get(outlet, 0)
                total = self.outlet_documents.get(outlet, 0)
                if k >= self.min_documents and total and k / total >= self.min_fraction:
                    return "outlet"
        n = self._counts.get(key, 0)
        if n >= self.min_documents and self.documents and n / self.documents >= self.min_fraction:
            return "corpus"
        return None

    def contains(self, line: str, outlet: str | None = None) -> bool:
        """True when ``line`` is recurring boilerplate (see the class docstring)."""
        return self.is_boilerplate_key(normalise(line), outlet)

    __contains__ = contains

    def entries(self) -> Iterator[LexiconEntry]:
        """All counted lines, most frequent first (for review)."""
        for key, n in sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0])):
            yield LexiconEntry(key, n, dict(self._outlets.get(key, {})))

    def __len__(self) -> int:
        return len(self._counts)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the lexicon as JSON lines (header line, then one entry per line), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "documents": self.documents,
            "outlet_documents": dict(sorted(self.outlet_documents.items())),
            "min_documents": self.min_documents,
            "min_fraction": self.min_fraction,
            "max_words": self.max_words,
        }
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(header, ensure_ascii=False) + "\n")
                for e in self.entries():
                    rec = {
                        "line": e.line,
                        "documents": e.documents,
                        "outlets": dict(sorted(e.outlets.items())),
                    }
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lexicon:
        """Read a file written by :meth:`save` (a reviewer may have deleted entries)."""
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
            header = json.loads(first) if first.strip() else {}
            if header.get("format") != FORMAT:
                raise ValueError(f"{path}: not an {FORMAT} file")
            lex = cls(
                min_documents=int(header.get("min_documents", 3)),
                min_fraction=float(header.get("min_fraction", 0.0)),
                max_words=int(header.get("max_words", 30)),
            )
            lex.documents = int(header.get("documents", 0))
            lex.outlet_documents = Counter(
                {str(k): int(v) for k, v in header.get("outlet_documents", {}).items()}
            )
            for n, raw in enumerate(fh, start=2):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                    key = normalise(rec["line"])
                    lex._counts[key] = int(rec["documents"])
                    if rec.get("outlets"):
                        lex._outlets[key] = Counter({str(k): int(v) for k, v in rec["outlets"].items()})
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{n}: bad lexicon entry: {exc}") from exc
        return lex


class LexiconRule:
    """Removes lines found in the corpus lexicon (recurring site furniture).

    A line that recurs only across outlets and reads like a sentence is left
    alone: syndicated stories repeat their sentences across sites.  Lines that
    recur within the page's own outlet are removed whatever they look like.
    """

    name = "lexicon"

    def __call__(self, page: Page) -> Iterator[tuple[int, float]]:
        lex = page.lexicon
        if lex is None or not len(lex):
            return
        o = page.options
        for f in page.nonblank:
            if not f.n_words or f.n_words > lex.max_words:
                continue
            hit = lex.match_key(normalise(f.text), page.outlet)
            if hit is None:
                continue
            if hit == "corpus" and f.ends_sentence and f.n_words >= 6 and f.stop_density >= o.stopwords_low:
                continue  # syndicated prose, not furniture
            yield f.index, 1.0
