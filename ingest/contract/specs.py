"""What a plugin hands the runner: typed records describing stages.

A plugin implements the ``ingest_stages`` hook and returns
:class:`StageSpec` records. The runner builds one name -> spec registry at
start-up, remembering which plugin supplied each spec, and from then on calls
the factories directly: pluggy is not on the per-document path.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from ingest.contract.context import StageContext
    from ingest.contract.document import Document, Drop
    from ingest.contract.ledger import DropRecord


class StageKind(str, enum.Enum):
    """What a spec provides. ``SOURCE`` and ``SINK`` are chosen in the
    ``[source]`` and ``[sink]`` tables; the others are pipeline stages."""

    SOURCE = "source"
    SINK = "sink"
    HEADER = "header"
    BOILERPLATE = "boilerplate"
    FILTER = "filter"
    TRANSFORM = "transform"
    DEDUP = "dedup"
    STATS = "stats"


#: A per-document stage: given one document, return it (possibly changed)
#: or a :class:`~ingest.contract.document.Drop`.
DocumentFunction = Callable[["Document"], "Document | Drop"]


@runtime_checkable
class StreamStage(Protocol):
    """A stage over a stream of documents.

    It yields the documents it keeps and reports the ones it drops with
    ``ctx.drop``. A corpus-level stage also has ``fit(corpus)``; the runner
    calls it first with a re-iterable view of every document that reaches
    the stage (spooled to disk, so memory stays flat), then calls the stage
    on the same documents again. It may also have ``observe(doc)``: called
    for each document, in stream order, as it is spooled (before ``fit``), so
    per-document fit work overlaps the spooling instead of re-reading the
    spool. ``fit`` is still called, and must read ``corpus`` itself when it
    did not observe every document in it (a resumed run's spool).
    """

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]: ...


@runtime_checkable
class Source(Protocol):
    """Yields input documents: what a ``StageKind.SOURCE`` spec's
    ``factory(options, ctx)`` returns (any iterable will do; a generator
    function's result too), chosen by ``[source] type``.

    * Each :class:`~ingest.contract.document.Document` needs an ``id`` unique within the
      run (``ingest explain`` and the ledger use it) and should carry an
      :class:`~ingest.contract.document.Origin` (``Origin("my_source", path, line)``),
      so drop records and warnings name the file.
    * An input that cannot become a document (unreadable, empty, not text)
      goes to ``ctx.drop(id, reason, path=..., error=...)`` and the iteration
      goes on: the ledger counts it as input and as dropped by ``source``.
      ``ctx.warn(message)`` records a warning that drops nothing.
    * Raising from ``__iter__`` fails the run (exit 1, no output kept); a
      problem found when the factory runs (a missing folder) should raise
      there, so ``ingest check`` reports it before any work.
    * Options that are paths must be declared with
      :func:`~ingest.contract.options.path_field`: then a relative path is relative to
      the config file's folder, as for every path in ``config.toml``. A plain
      ``str`` field is passed as written, and ``open`` resolves it against
      the working directory.
    * Sharded runs (optional, see :mod:`ingest.engine.shards`): a source that
      reads independent inputs may also offer ``plan(files_per_shard)``, the
      input cut into parts (picklable, plain data with a stable ``repr``: a
      part's ``repr`` tells a resumed run whether the input changed), fixed by
      the input alone and in reading order: a list, or a generator that yields
      them as it lists the input (the run writes them to disk as they come) and
      may ``return`` its first part completed, for what only the end of the
      listing tells (see :class:`ingest.engine.shards.PlannedParts`); and
      ``read_shard(part)``, which
      yields and records exactly what ``__iter__`` does for that part. Shard
      tasks call ``read_shard`` on their own copy of the source, built in their
      process with a context of their own. ``text_files`` does this.
      A source whose records must have unique keys across the whole input
      (``jsonl_files``: the ids) also offers ``shard_keys(part)``, yielding
      ``(key, where)`` for each record of the part that claims a key, in
      reading order; before the shards read their records, tasks find the
      records whose key an earlier record of any part has, and each shard gets
      them as ``read_shard(part, taken)``: ``{where: where the first one is}``.
    """

    def __iter__(self) -> Iterator[Document]: ...


@runtime_checkable
class Sink(Protocol):
    """Receives kept documents and drop records; ``close`` gets the report.
    What a ``StageKind.SINK`` spec's ``factory(options, ctx)`` returns, chosen
    by ``[sink] type``. The runner calls, in the main process:

    * ``write(doc)`` for each kept :class:`~ingest.contract.document.Document`, in
      input order. A document it cannot encode: raise
      :class:`~ingest.contract.errors.UnwritableDocument` before writing any of it, and
      it is recorded as dropped by ``sink`` (reason ``unwritable``) while the
      run goes on. Any other exception fails the run.
    * ``write_dropped(record)`` for each :class:`~ingest.contract.ledger.DropRecord`
      as it happens (interleaved with ``write``). It must not fail: the run
      stops rather than lose a record.
    * ``close(report)`` once, at the end of a successful run, with the run
      report (the data of ``report.json``; may hold dates: encode with
      ``default=str`` or :mod:`ingest.engine.jsonutil`).
    * ``abort()`` instead of ``close`` when the run fails (a stage crashed,
      Ctrl-C, ``[run] max_error_rate`` exceeded); it may be called after a
      failed ``close`` too, so make it idempotent.

    A sink makes its output appear atomically: nothing looks complete until
    ``close`` has run (write under temporary names and rename them in
    ``close``, the file that says "complete" last), and ``abort`` must leave
    no complete-looking output behind. Declare the output path with
    :func:`~ingest.contract.options.path_field` so a relative one is relative to the
    config file (a plain ``str`` option is resolved against the working
    directory by ``open``).

    A sink may also offer ``prepare(doc) -> Any`` and
    ``write_prepared(doc_id, prepared)``: ``write(doc)`` must then do the same
    as ``write_prepared(doc.id, prepare(doc))``. With worker processes, the
    runner calls ``prepare`` in the workers, on the copy of the sink they were
    forked with, for the documents of the per-document stages that run last,
    and only ``write_prepared`` here. So ``prepare`` must read nothing but the
    sink's options, and what it returns must pickle (bytes are best). The
    ``jsonl`` sink encodes its lines this way.

    A sink may write sharded runs (see :mod:`ingest.engine.shards`) with:
    ``shards_dir`` (a local folder where shards work, inside the output
    folder so a resumed run finds them), ``begin_shards()`` (called once, when
    the run is sharded), ``shard_writer(index, folder) -> writer`` (called here,
    and the writer, which must pickle, used in the shard's task: ``open()``,
    ``write(doc)``, ``write_dropped(record)``, ``close() -> {kind: file name in
    folder}`` once its files are synced, ``abort()``) and ``add_shard(index,
    folder, files)`` for each completed shard, in order, before ``close``, which
    then moves the shards' files into place.
    """

    def write(self, doc: Document) -> None: ...

    def write_dropped(self, record: DropRecord) -> None: ...

    def close(self, report: dict[str, Any]) -> None: ...

    def abort(self) -> None: ...


@attrs.frozen
class StageSpec:
    """A stage (or source or sink) that a plugin provides.

    Attributes:
        name: what ``stage = "..."`` (or ``type = "..."`` for sources and
            sinks) in ``config.toml`` selects. Unique across all plugins.
        kind: a :class:`StageKind`.
        factory: called once per configured use as ``factory(options, ctx)``
            with an instance of ``options`` and a
            :class:`~ingest.contract.context.StageContext`. For a per-document stage it
            returns a function ``Document -> Document | Drop``; for a stream
            stage a :class:`StreamStage`; for a source an iterable of
            documents; for a sink a :class:`Sink`.
        options: an attrs class whose fields (with defaults) are the options
            the stage accepts, or ``None`` for a stage without options.
        summary: one line for ``ingest plugins``.
        per_document: True when ``factory`` returns a per-document function
            (the runner then catches a raising document and records it, and
            may spread it over worker processes). May be a function of the
            options, for a stage that is per-document only in some modes.
        needs_corpus: True when the stage must see the whole corpus before
            it decides (its object has a ``fit`` method): the runner spools
            the stream and makes a first pass. May be a function of the
            options.
        replay: for a corpus-level stage, how ``ingest explain --set`` can
            re-run it on one document without the corpus:
            ``replay(options, events, scratch_dir)`` gets the stage's options,
            the events it recorded on that document in the run (dicts, as in
            ``documents.jsonl``) and a scratch folder, and returns options with
            which the stage is per-document and reproduces what the corpus
            taught it about this document (for the ``boilerplate`` stage: its
            lexicon's lines, as a saved lexicon), or None when the events do
            not tell enough. Without it the stage is left out of previews.
    """

    name: str
    kind: StageKind
    factory: Callable[[Any, StageContext], Any]
    options: type | None = None
    summary: str = ""
    per_document: bool | Callable[[Any], bool] = False
    needs_corpus: bool | Callable[[Any], bool] = False
    replay: Callable[[Any, list[dict[str, Any]], str], Any] | None = None

    def __attrs_post_init__(self) -> None:
        if self.needs_corpus is True and self.per_document is True:
            raise ValueError(f"stage {self.name!r}: a corpus-level stage must be a stream stage")
        if self.options is not None and not attrs.has(self.options):
            raise TypeError(f"stage {self.name!r}: options must be an attrs class")

    def runs_per_document(self, options: Any) -> bool:
        """Whether, with these options, the factory returns a per-document function."""
        return bool(self.per_document(options) if callable(self.per_document) else self.per_document)

    def reads_corpus(self, options: Any) -> bool:
        """Whether, with these options, the stage needs a first pass over the corpus."""
        return bool(self.needs_corpus(options) if callable(self.needs_corpus) else self.needs_corpus)
