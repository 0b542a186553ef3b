"""The hooks a plugin can implement. This module is their reference.

Implement a hook with the :data:`hookimpl` marker on a function of a module
(or a method of an object) and register it: built in, through the
``ingest.plugins`` entry-point group, by ``[plugins]`` in ``config.toml``, or
in-process with ``Pipeline(..., plugins=[obj])``.

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

Stage order never depends on hook order: the pipeline runs stages in the
order ``config.toml`` lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ingest.ledger import DropRecord, StageStats
    from ingest.specs import StageSpec

PROJECT_NAME = "ingest"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker for hook implementations: ``@ingest.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ingest_stages() -> Iterable[StageSpec]:
    """Return the stages, sources and sinks this plugin provides.

    Called once when a pipeline is built. Every plugin's specs are collected
    into one registry keyed by ``StageSpec.name``; two plugins providing the
    same name is an error naming both.

    :return: an iterable of :class:`~ingest.specs.StageSpec`.
    """


@hookspec
def ingest_boilerplate_rules() -> Iterable[Any]:
    """Return extra line rules for the ``boilerplate`` stage.

    Called once when a boilerplate stage is built; all results are
    collected and the rules run after the built-in ones. A rule is an object
    with a ``name`` attribute that is called with the page (see
    ``ingest_plugins.boilerplate.LineRule``) and returns the lines to remove.

    :return: an iterable of line rules.
    """


@hookspec(firstresult=True)
def ingest_parse_header_line(line: str, line_number: int) -> Mapping[str, Any] | None:
    """Recognise one header line at the top of a document.

    Called by the ``header`` stage for each candidate line at the top of a
    document, after the patterns from ``config.toml`` and before the
    built-in formats. The first implementation that returns a mapping wins.

    :param line: the line, without its line ending.
    :param line_number: its 1-based line number in the document.
    :return: metadata to merge into the document's metadata if the line is a
        header line in this plugin's format, else ``None``.
    """


@hookspec
def ingest_run_started(run: Mapping[str, Any]) -> None:
    """Called once before the first document is read.

    :param run: ``{"config": path or None, "stages": [stage ids in order]}``.
    """


@hookspec
def ingest_document_dropped(record: DropRecord) -> None:
    """Called each time a document is dropped (by a stage, an error, or the
    source because it could not be read). Do not raise."""


@hookspec
def ingest_stage_finished(stage_id: str, stats: StageStats) -> None:
    """Called once per stage when the stream has passed through it, with
    its counts and timings."""


@hookspec
def ingest_run_finished(report: Mapping[str, Any]) -> None:
    """Called once at the end of a run with the run report (the same data
    as ``report.json``)."""
