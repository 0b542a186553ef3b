"""The hooks a plugin can implement. This module is their reference.

Implement a hook with the :data:`hookimpl` marker on a function of a module
(or a method of an object) and register it: built in, through the
``ingest.plugins`` entry-point group, by ``[plugins]`` in ``config.toml``, or
in-process with ``Pipeline(..., plugins=[obj])``. A plugin implements only
the hooks it needs, and may accept fewer arguments than the spec lists
(pluggy passes only the ones it names).

There are three sorts of hook:

* **Registration** (called once at start-up, every implementation's result
  is collected): :func:`ingest_stages`, :func:`ingest_boilerplate_rules`.
* **First result wins** (``firstresult``: implementations are tried in
  pluggy's order, last registered first, until one returns something other
  than ``None``): :func:`ingest_parse_header_line`.
* **Observers** (broadcast events; return values are ignored; they must not
  change documents): :func:`ingest_run_started`,
  :func:`ingest_document_dropped`, :func:`ingest_stage_finished`,
  :func:`ingest_run_finished`.

Call order between plugins is pluggy's: the plugin registered last is called
first (registration order: built-ins, installed packages, ``[plugins]``
modules then paths, in-process objects), and ``@hookimpl(tryfirst=True)`` /
``trylast=True`` move an implementation to the front or the back.
``ingest plugins --hooks`` prints the resulting order. Stage order never
depends on hook order: the pipeline runs stages in the order ``config.toml``
lists them.

With ``run.workers`` above 1, per-document stages run in forked worker
processes, so hooks they call (:func:`ingest_parse_header_line`) run there;
observer hooks always run in the main process, in input order.

An exception raised in a registration hook stops the pipeline from being
built (a config error naming the plugin); one raised in an observer hook
propagates and fails the run, so observers should not raise.

The narrative version of this page, for plugin authors, is
``docs/hooks.md``; ``tests/test_hook_docs.py`` keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ingest.contract.ledger import DropRecord, StageStats
    from ingest.contract.specs import StageSpec

PROJECT_NAME = "ingest"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker for hook implementations: ``@ingest.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ingest_stages() -> Iterable[StageSpec]:  # type: ignore[empty-body]
    """Return the stages, sources and sinks this plugin provides.

    **When:** once per pipeline, while it is built (``Pipeline.from_toml``,
    ``Pipeline.from_dict``, ``ingest run``, ``ingest check``,
    ``ingest plugins``), before any document is read.

    **Result:** collected from every plugin into one registry keyed by
    ``StageSpec.name``. A name two plugins provide is a config error naming
    both, only for a config that uses it (``ingest plugins`` and other
    configs keep working and show the clash); nothing is renamed, and
    ``[plugins] disable`` or ``INGEST_DISABLE_PLUGINS`` turns one plugin off.
    An option whose default does not match its declared type is a warning
    when the plugin loads, and an error for a config that uses the stage
    without setting the option. Returning anything but
    :class:`~ingest.contract.specs.StageSpec` records, or raising, is a config error
    naming the plugin. Hook order does not matter: the stages run in the
    order ``config.toml`` lists them.

    Each spec's ``factory(options, ctx)`` is called when a run starts, once
    per configured use of the stage (per-document stages run over worker
    processes are built again in each worker), and by ``ingest check`` to
    validate; pluggy is not involved per document.

    :return: an iterable (a list, say) of :class:`~ingest.contract.specs.StageSpec`;
        an empty one or ``None`` for none.
    """


@hookspec
def ingest_boilerplate_rules() -> Iterable[Any]:  # type: ignore[empty-body]
    """Return extra line rules for the ``boilerplate`` stage.

    **When:** each time a ``boilerplate`` stage is built (at the start of a
    run, in each worker process, and by ``ingest check``), not per document.

    **Result:** collected from every plugin and flattened; the rules run
    after the built-in ones, in hook call order (last registered plugin
    first). A rule is an object with a ``name`` attribute (recorded as the
    rule of every line it removes, and usable in the stage's
    ``disabled_rules`` option) that is called with the page (see
    ``ingest_plugins.boilerplate.LineRule``) and yields the indices of the
    lines to remove, or ``(index, score)`` pairs.

    :return: an iterable of line rules; an empty one or ``None`` for none.
    """


@hookspec(firstresult=True)
def ingest_parse_header_line(line: str, line_number: int) -> Mapping[str, Any] | None:
    """Recognise one header line at the top of a document.

    **When:** by the ``header`` stage, for each candidate line at the top of
    a document (up to its ``max_header_lines``), after the ``patterns`` from
    ``config.toml`` and before the built-in formats. When no plugin
    implements the hook, the stage does not call it at all.

    **Result:** first result wins: implementations are tried last registered
    first and the first one that returns a mapping (not ``None``) decides;
    the others are not called for that line. The line is then removed from
    the text, recorded in the document's history, and the mapping is merged
    into the document's metadata.

    :param line: the line, without its line ending.
    :param line_number: its 1-based line number in the document.
    :return: metadata to merge into the document's metadata if the line is a
        header line in this plugin's format, else ``None``.
    """


@hookspec
def ingest_run_started(run: Mapping[str, Any]) -> None:
    """A run is starting.

    **When:** once per run (``Pipeline.run``, ``Pipeline.process``,
    ``ingest run``), after the stages are configured and before the first
    document is read.

    **Result:** an observer: every implementation is called, return values
    are ignored.

    :param run: ``{"config": path of config.toml or None, "stages": [enabled
        stage ids in run order]}``.
    """


@hookspec
def ingest_document_dropped(record: DropRecord) -> None:
    """A document has left the run without being kept.

    **When:** each time a document is dropped: by a stage (a ``Drop`` or
    ``ctx.drop``), because a stage raised on it (reason ``"error"``), or by
    the source because it could not be read (stage ``"source"``). Called
    while the run goes on, in the order documents are dropped, just before
    the sink is given the record.

    **Result:** an observer: every implementation is called, return values
    are ignored. Do not raise: an exception here can fail the run.

    :param record: the :class:`~ingest.contract.ledger.DropRecord`, with ``id``,
        ``stage``, ``reason``, ``plugin``, ``duplicate_of``, ``details`` and,
        for documents, ``text``, ``metadata`` and ``history``.
    """


@hookspec
def ingest_stage_finished(stage_id: str, stats: StageStats) -> None:
    """A stage has seen the whole stream.

    **When:** once per enabled stage at the end of a run, in pipeline order,
    after every document has passed through every stage and before
    :func:`ingest_run_finished`. Not called when the run fails, nor when
    the iterator of ``Pipeline.process`` is not consumed to the end.

    **Result:** an observer: every implementation is called, return values
    are ignored.

    :param stage_id: the stage's id from the config.
    :param stats: its :class:`~ingest.contract.ledger.StageStats`: documents in and
        out, drops by reason, warnings, seconds.
    """


@hookspec
def ingest_run_finished(report: Mapping[str, Any]) -> None:
    """A run has finished.

    **When:** once at the end of a successful run, after the ledger has
    been checked to balance; for ``Pipeline.run`` and ``ingest run`` before
    the sink writes its files. Not called when the run fails (a run that
    fails because a stage raised on more than ``[run] max_error_rate`` of
    its input fails at its end, after :func:`ingest_stage_finished`), nor
    when the iterator of ``Pipeline.process`` is not consumed to the end.

    **Result:** an observer: every implementation is called, return values
    are ignored.

    :param report: the run report, the same data as ``report.json``
        (``input``, ``kept``, ``dropped``, ``stages``, ...).
    """
