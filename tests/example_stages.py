"""Small in-process plugins the core tests use to exercise the runner."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import attrs

from ingest import Document, Drop, StageContext, StageKind, StageSpec, hookimpl


@attrs.define
class MinLengthOptions:
    min_chars: int = 10


@attrs.define
class SuffixOptions:
    suffix: str = "!"


@attrs.define
class ExplodeOptions:
    word: str = "boom"


@attrs.define
class StreamFilterOptions:
    drop_word: str = "spam"
    lose_word: str = ""
    explode_word: str = ""


def min_length(options: MinLengthOptions, ctx: StageContext):
    def process(doc: Document) -> Document | Drop:
        if len(doc.text) < options.min_chars:
            return Drop("too_short", details={"chars": len(doc.text)})
        return doc

    return process


def suffix(options: SuffixOptions, ctx: StageContext):
    def process(doc: Document) -> Document:
        return attrs.evolve(doc, text=doc.text + options.suffix).with_event(ctx.stage_id, "suffixed")

    return process


def explode(options: ExplodeOptions, ctx: StageContext):
    def process(doc: Document) -> Document:
        if options.word in doc.text:
            raise ValueError(f"found {options.word!r}")
        return doc

    return process


class StreamFilter:
    def __init__(self, options: StreamFilterOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if self.options.explode_word and self.options.explode_word in doc.text:
                raise RuntimeError("stream stage blew up")
            if self.options.lose_word and self.options.lose_word in doc.text:
                continue  # a buggy stage: neither kept nor dropped
            if self.options.drop_word in doc.text:
                self.ctx.drop(doc, "spam")
                continue
            yield doc


class ExactDuplicates:
    """A corpus-level stage: the longest id-sorted copy of each text survives."""

    def __init__(self, options: None, ctx: StageContext) -> None:
        self.ctx = ctx
        self.survivor: dict[str, str] = {}
        self.fit_passes = 0

    def fit(self, corpus: Iterable[Document]) -> None:
        self.fit_passes += 1
        for doc in corpus:
            key = hashlib.sha1(doc.text.encode()).hexdigest()
            current = self.survivor.get(key)
            if current is None or doc.id < current:
                self.survivor[key] = doc.id

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            survivor = self.survivor[hashlib.sha1(doc.text.encode()).hexdigest()]
            if survivor == doc.id:
                yield doc
            else:
                self.ctx.drop(doc, "exact_duplicate", duplicate_of=survivor)


class ExamplePlugin:
    """Provides the test stages; registered in-process."""

    __name__ = "example-stages"

    @hookimpl
    def ingest_stages(self) -> list[StageSpec]:
        return [
            StageSpec(
                "min_length",
                StageKind.FILTER,
                min_length,
                MinLengthOptions,
                "drop short docs",
                per_document=True,
            ),
            StageSpec(
                "suffix", StageKind.TRANSFORM, suffix, SuffixOptions, "append a suffix", per_document=True
            ),
            StageSpec(
                "explode", StageKind.TRANSFORM, explode, ExplodeOptions, "raise on a word", per_document=True
            ),
            StageSpec("stream_filter", StageKind.FILTER, StreamFilter, StreamFilterOptions, "stream stage"),
            StageSpec(
                "exact_test", StageKind.DEDUP, ExactDuplicates, None, "corpus stage", needs_corpus=True
            ),
        ]
