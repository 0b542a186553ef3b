"""A pytest plugin for testing ``ingest`` stages and plugins.

Opt in from your ``conftest.py``::

    pytest_plugins = ["ingest.testing"]

Every fixture hands you a plain function that you can also import from
``ingest.testing`` and call outside pytest.

Fixtures:

* ``run_pipeline(items, stages, *, plugins=(), **tables)`` runs a pipeline
  over in-memory items (strings, dicts or Documents) and returns a
  :class:`PipelineResult` with what was kept, what was dropped and why
  (function: :func:`run_pipeline_once`). ``stages`` are config tables like
  ``{"stage": "header", "min_chars": 3}`` or bare stage names. Plugins from
  installed packages are not loaded unless you pass
  ``load_entry_points=True``, so a test sees only the plugins it names.
  Per-document stages may run in worker processes (``[run] workers``, one
  per core by default, for inputs over one batch); pass
  ``run={"workers": 1}`` when a test records calls in its own process.
* ``stage_plugin(func, name=None, *, options=None, kind=..., ...)`` turns a
  bare function into a plugin object providing one stage (function:
  :func:`stage_plugin`). Without ``options`` ``func`` is the per-document
  function itself (``Document -> Document | Drop``); with ``options`` (an
  attrs class) or ``factory=True`` it is the stage's factory
  ``func(options, ctx)``. Pass the result in ``plugins=[...]``. (Outside
  tests, ``Pipeline.from_dict(..., stages={name: func})`` adds a
  per-document function stage without this module.)
* ``write_corpus(folder, {relative_name: text_or_bytes})`` writes input files
  for file-based runs and returns the folder (function: :func:`write_corpus`).
* ``write_config(path, mapping)`` writes a ``config.toml`` from a dict shaped
  like one and returns its path (function: :func:`write_config`).
* ``ingest_cli(*args)`` runs the ``ingest`` command line in-process and
  returns a :class:`CliResult` (exit code, stdout, stderr) (function:
  :func:`run_cli`).
* ``ingest_run(config, *args, corpus=None)`` writes ``config`` (a dict) to
  ``config.toml`` in the test's ``tmp_path`` (and ``corpus``, if given, to
  ``tmp_path / "corpus"``, which becomes the source path unless the config
  names one), runs ``ingest run -c config.toml ARGS...`` in-process and
  returns a :class:`RunResult`: the exit code and output, plus the
  ``documents.jsonl``, ``dropped.jsonl`` and ``report.json`` the run wrote
  (function: :func:`run_config`). Installed plugins are loaded, as on the
  command line. Calling it again in one test rewrites ``config.toml`` and
  adds to ``corpus``.

Assertions on results (:class:`PipelineResult` and :class:`RunResult`):

* ``result.kept_ids``, ``result.dropped_ids`` and ``result.why_dropped()``
  (``{id: "stage:reason"}``).
* ``result.assert_kept(*ids, only=False)`` fails, saying where each missing
  document went, unless every id was kept (and, with ``only=True``, nothing
  else was).
* ``result.assert_dropped(id, stage=..., reason=..., duplicate_of=...,
  details={...})`` fails unless ``id`` was dropped with the given stage id,
  reason, duplicate and (a subset of) details; it returns the record.

For example::

    from ingest.contract.document import Drop

    def test_drops_short(run_pipeline, stage_plugin):
        short = stage_plugin(lambda doc: Drop("short") if len(doc.text) < 5 else doc, "short")
        result = run_pipeline(["tiny", "long enough"], ["short"], plugins=[short])
        result.assert_kept("doc-1", only=True)
        result.assert_dropped("doc-0", stage="short", reason="short")
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from ingest.contract.document import Document
from ingest.contract.hookspecs import hookimpl
from ingest.contract.ledger import DropRecord, Ledger
from ingest.contract.specs import StageKind, StageSpec
from ingest.runner import Pipeline

# "Not given" for assertion arguments where None is a value worth checking
# (``duplicate_of=None`` asserts the record names no duplicate).
_UNSET: Any = object()


class _Outcome:
    """Assertions shared by in-memory and file-based results.

    Subclasses provide ``kept_ids`` and ``_drop_fields(id)``, which returns
    ``(stage, reason, duplicate_of, details)`` of a dropped document or
    ``None`` when it was not dropped.
    """

    @property
    def kept_ids(self) -> list[str]:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    @property
    def dropped_ids(self) -> list[str]:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def _drop_fields(self, doc_id: str) -> tuple[str, str, str | None, Mapping[str, Any]] | None:
        raise NotImplementedError  # pragma: no cover

    def why_dropped(self) -> dict[str, str]:
        """``{id: "stage:reason"}`` for every dropped document."""
        result = {}
        for doc_id in self.dropped_ids:
            fields = self._drop_fields(doc_id)
            assert fields is not None
            result[doc_id] = f"{fields[0]}:{fields[1]}"
        return result

    def _where_is(self, doc_id: str) -> str:
        """Where a document ended up, in words, for failure messages."""
        if doc_id in self.kept_ids:
            return "it was kept"
        fields = self._drop_fields(doc_id)
        if fields is None:
            return f"no document has that id (kept: {self.kept_ids}; dropped: {self.dropped_ids})"
        stage, reason, duplicate_of, details = fields
        dup = f", duplicate_of {duplicate_of!r}" if duplicate_of else ""
        return f"it was dropped by stage {stage!r} with reason {reason!r}{dup}, details {dict(details)!r}"

    def _check_kept(self, ids: Sequence[str], only: bool) -> None:
        missing = [doc_id for doc_id in ids if doc_id not in self.kept_ids]
        if missing:
            lines = [f"expected {doc_id!r} to be kept, but {self._where_is(doc_id)}" for doc_id in missing]
            raise AssertionError("\n".join(lines))
        if only:
            extra = [doc_id for doc_id in self.kept_ids if doc_id not in ids]
            if extra:
                raise AssertionError(f"expected only {list(ids)} to be kept, but {extra} were kept too")

    def _check_dropped(
        self,
        doc_id: str,
        stage: str | None,
        reason: str | None,
        duplicate_of: Any,
        details: Mapping[str, Any] | None,
    ) -> None:
        fields = self._drop_fields(doc_id)
        if fields is None:
            wanted = f" with reason {reason!r}" if reason is not None else ""
            raise AssertionError(f"expected {doc_id!r} to be dropped{wanted}, but {self._where_is(doc_id)}")
        got_stage, got_reason, got_duplicate, got_details = fields
        problems = []
        if stage is not None and got_stage != stage:
            problems.append(f"stage is {got_stage!r}, expected {stage!r}")
        if reason is not None and got_reason != reason:
            problems.append(f"reason is {got_reason!r}, expected {reason!r}")
        if duplicate_of is not _UNSET and got_duplicate != duplicate_of:
            problems.append(f"duplicate_of is {got_duplicate!r}, expected {duplicate_of!r}")
        for key, value in (details or {}).items():
            if key not in got_details:
                problems.append(f"details have no {key!r} (details: {dict(got_details)!r})")
            elif got_details[key] != value:
                problems.append(f"details[{key!r}] is {got_details[key]!r}, expected {value!r}")
        if problems:
            raise AssertionError(f"{doc_id!r} was dropped, but " + "; ".join(problems))


@attrs.frozen
class PipelineResult(_Outcome):
    """What a pipeline made of some in-memory documents."""

    kept: list[Document]
    dropped: list[DropRecord]
    ledger: Ledger
    report: dict[str, Any]
    pipeline: Pipeline

    @property
    def kept_ids(self) -> list[str]:
        return [doc.id for doc in self.kept]

    @property
    def dropped_ids(self) -> list[str]:
        return [record.id for record in self.dropped]

    def kept_by_id(self, doc_id: str) -> Document:
        for doc in self.kept:
            if doc.id == doc_id:
                return doc
        raise KeyError(f"{doc_id!r} was not kept; kept: {self.kept_ids}; dropped: {self.why_dropped()}")

    def drop_record(self, doc_id: str) -> DropRecord:
        for record in self.dropped:
            if record.id == doc_id:
                return record
        raise KeyError(f"{doc_id!r} was not dropped; kept: {self.kept_ids}")

    def _drop_fields(self, doc_id: str) -> tuple[str, str, str | None, Mapping[str, Any]] | None:
        for record in self.dropped:
            if record.id == doc_id:
                return record.stage, record.reason, record.duplicate_of, record.details
        return None

    def assert_kept(self, *ids: str, only: bool = False) -> list[Document]:
        """Fail unless every id in ``ids`` was kept (and, with ``only``,
        nothing else was); return the kept documents, in ``ids`` order."""
        self._check_kept(ids, only)
        return [self.kept_by_id(doc_id) for doc_id in ids]

    def assert_dropped(
        self,
        doc_id: str,
        *,
        stage: str | None = None,
        reason: str | None = None,
        duplicate_of: Any = _UNSET,
        details: Mapping[str, Any] | None = None,
    ) -> DropRecord:
        """Fail unless ``doc_id`` was dropped as described; return its record.

        ``stage`` is the stage id, ``details`` need only be a subset of the
        record's details, and ``duplicate_of=None`` asserts there is none.
        """
        self._check_dropped(doc_id, stage, reason, duplicate_of, details)
        return self.drop_record(doc_id)


def run_pipeline_once(
    items: Iterable[Document | str | dict[str, Any]],
    stages: Sequence[Mapping[str, Any] | str],
    *,
    plugins: Iterable[Any] = (),
    base_dir: str | os.PathLike[str] | None = None,
    load_entry_points: bool = False,
    **tables: Any,
) -> PipelineResult:
    """Build a pipeline from ``stages`` (dicts like ``{"stage": "header"}``,
    or bare stage names) plus any other config tables, run ``items``
    through it, and check the ledger balances."""
    config: dict[str, Any] = {
        "pipeline": [{"stage": s} if isinstance(s, str) else dict(s) for s in stages],
        **tables,
    }
    pipeline = Pipeline.from_dict(
        config, plugins=plugins, base_dir=base_dir, load_entry_points=load_entry_points
    )
    kept = list(pipeline.process(items))
    pipeline.ledger.check_balance()
    return PipelineResult(
        kept=kept,
        dropped=list(pipeline.ledger.records),
        ledger=pipeline.ledger,
        report=pipeline.report,
        pipeline=pipeline,
    )


# -- plugins from bare functions -------------------------------------------


@attrs.frozen
class StagePlugin:
    """A plugin object providing the given specs; register it in-process
    with ``plugins=[...]``. ``name`` is its plugin name (as
    ``ingest plugins`` and drop records show it)."""

    name: str
    specs: tuple[StageSpec, ...]

    @property
    def __name__(self) -> str:  # PluginHost names in-process plugins by __name__
        return self.name

    @hookimpl
    def ingest_stages(self) -> list[StageSpec]:
        return list(self.specs)


def stage_plugin(
    func: Callable[..., Any],
    name: str | None = None,
    *,
    options: type | None = None,
    kind: StageKind = StageKind.TRANSFORM,
    summary: str = "",
    factory: bool | None = None,
    per_document: bool = True,
    needs_corpus: bool = False,
) -> StagePlugin:
    """Make a plugin that provides one stage built from ``func``.

    ``name`` is the stage name (default: ``func.__name__``); the plugin is
    named ``stage_plugin:<name>``. Without ``options`` (and unless
    ``factory=True``) ``func`` is the per-document function; otherwise it
    is the factory ``func(options, ctx)``, returning a per-document function
    or, with ``per_document=False``, a stream stage. ``needs_corpus=True``
    makes a corpus-level stream stage (its object needs a ``fit`` method).
    """
    stage_name = name or getattr(func, "__name__", None)
    if not stage_name or stage_name == "<lambda>":
        raise TypeError("stage_plugin: give the stage a name (a lambda has none)")
    if factory is None:
        factory = options is not None
    if not factory and (not per_document or needs_corpus):
        raise TypeError("stage_plugin: a stream or corpus stage needs factory=True (func(options, ctx))")
    if factory:
        make = func
    else:

        def make(_options: Any, _ctx: Any) -> Callable[..., Any]:
            return func

    spec = StageSpec(
        stage_name,
        kind,
        make,
        options,
        summary or (func.__doc__ or "").strip().split("\n")[0],
        per_document=per_document and not needs_corpus,
        needs_corpus=needs_corpus,
    )
    return StagePlugin(f"stage_plugin:{stage_name}", (spec,))


# -- files: corpus and config ----------------------------------------------


def write_corpus(folder: str | os.PathLike[str], texts: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative_name: text}`` as files under ``folder`` (created,
    with subfolders); ``bytes`` are written as they are, text as UTF-8.
    Returns the folder, ready for ``[source] path``."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name, content in texts.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    # JSON strings are valid TOML basic strings, escapes included.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return json.dumps(os.fspath(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to TOML")


def dump_toml(config: Mapping[str, Any]) -> str:
    """A config mapping as TOML text: top-level dicts become ``[tables]``,
    lists of dicts ``[[arrays of tables]]``, nested dicts inline tables."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            body = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
            tables.append("\n".join([f"[{_toml_key(key)}]", *body]))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                body = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]
                tables.append("\n".join([f"[[{_toml_key(key)}]]", *body]))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n\n".join(part for part in ["\n".join(lines), *tables] if part) + "\n"


def write_config(path: str | os.PathLike[str], config: Mapping[str, Any]) -> Path:
    """Write ``config`` (shaped like ``config.toml``) as TOML to ``path``; a
    directory gets a ``config.toml`` inside. Returns the file's path."""
    target = Path(path)
    if target.is_dir():
        target = target / "config.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dump_toml(config), encoding="utf-8")
    return target


# -- the command line --------------------------------------------------------


@attrs.frozen
class CliResult:
    """The outcome of one in-process ``ingest`` command."""

    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike[str]) -> CliResult:
    """Run ``ingest ARGS...`` in this process, capturing its output."""
    from ingest.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([os.fspath(a) for a in args])
    return CliResult(int(code), out.getvalue(), err.getvalue())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@attrs.frozen
class RunResult(_Outcome):
    """The outcome of ``ingest run`` on a config: the command's exit code
    and output, and the files the ``jsonl`` sink wrote (empty when the run
    failed). ``documents`` and ``dropped`` are the parsed JSON lines."""

    exit_code: int
    stdout: str
    stderr: str
    config: Path
    output: Path
    documents: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    report: dict[str, Any]

    @property
    def kept_ids(self) -> list[str]:
        return [doc["id"] for doc in self.documents]

    @property
    def dropped_ids(self) -> list[str]:
        return [record["id"] for record in self.dropped]

    def _drop_fields(self, doc_id: str) -> tuple[str, str, str | None, Mapping[str, Any]] | None:
        for record in self.dropped:
            if record["id"] == doc_id:
                return (
                    record["stage"],
                    record["reason"],
                    record.get("duplicate_of"),
                    record.get("details") or {},
                )
        return None

    def _check_ran(self) -> None:
        if self.exit_code != 0:
            raise AssertionError(f"ingest run exited with {self.exit_code}:\n{self.stderr}")

    def assert_kept(self, *ids: str, only: bool = False) -> list[dict[str, Any]]:
        """Fail unless the run succeeded and kept every id in ``ids`` (and,
        with ``only``, nothing else); return their ``documents.jsonl`` records."""
        self._check_ran()
        self._check_kept(ids, only)
        by_id = {doc["id"]: doc for doc in self.documents}
        return [by_id[doc_id] for doc_id in ids]

    def assert_dropped(
        self,
        doc_id: str,
        *,
        stage: str | None = None,
        reason: str | None = None,
        duplicate_of: Any = _UNSET,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Fail unless the run succeeded and dropped ``doc_id`` as described;
        return its ``dropped.jsonl`` record."""
        self._check_ran()
        self._check_dropped(doc_id, stage, reason, duplicate_of, details)
        return next(record for record in self.dropped if record["id"] == doc_id)


def run_config(
    config: Mapping[str, Any],
    *args: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    corpus: Mapping[str, str | bytes] | None = None,
) -> RunResult:
    """Write ``config`` to ``directory/config.toml`` (and ``corpus`` to
    ``directory/corpus``, the source path unless the config sets one), run
    ``ingest run -c config.toml ARGS...`` in-process, and read its output."""
    root = Path(directory)
    raw: dict[str, Any] = {key: value for key, value in config.items()}
    if corpus is not None:
        write_corpus(root / "corpus", corpus)
        source = dict(raw.get("source") or {})
        source.setdefault("path", "corpus")
        raw["source"] = source
    config_path = write_config(root / "config.toml", raw)
    result = run_cli("run", "-c", config_path, *args)

    # Find the output the way the CLI does: --output, else [sink] path
    # relative to the config file; the sink's own file names if set.
    sink = dict(raw.get("sink") or {})
    argv = [os.fspath(a) for a in args]
    output = root / str(sink.get("path", "out"))
    for i, arg in enumerate(argv):
        if arg == "--output" and i + 1 < len(argv):
            output = Path(os.path.abspath(argv[i + 1]))
        elif arg.startswith("--output="):
            output = Path(os.path.abspath(arg.split("=", 1)[1]))
    report_path = output / str(sink.get("report", "report.json"))
    ran = result.exit_code == 0
    return RunResult(
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        config=config_path,
        output=output,
        documents=_read_jsonl(output / str(sink.get("documents", "documents.jsonl"))) if ran else [],
        dropped=_read_jsonl(output / str(sink.get("dropped", "dropped.jsonl"))) if ran else [],
        report=json.loads(report_path.read_text(encoding="utf-8")) if ran and report_path.is_file() else {},
    )


# -- fixtures ----------------------------------------------------------------


@pytest.fixture
def run_pipeline() -> Callable[..., PipelineResult]:
    """Run a pipeline over in-memory documents; see :func:`run_pipeline_once`."""
    return run_pipeline_once


@pytest.fixture
def ingest_cli() -> Callable[..., CliResult]:
    """Run the ``ingest`` CLI in-process; see :func:`run_cli`."""
    return run_cli


@pytest.fixture(name="stage_plugin")
def _stage_plugin_fixture() -> Callable[..., StagePlugin]:
    """Make a one-stage plugin from a function; see :func:`stage_plugin`."""
    return stage_plugin


@pytest.fixture(name="write_corpus")
def _write_corpus_fixture() -> Callable[..., Path]:
    """Write input files; see :func:`write_corpus`."""
    return write_corpus


@pytest.fixture(name="write_config")
def _write_config_fixture() -> Callable[..., Path]:
    """Write a config.toml from a dict; see :func:`write_config`."""
    return write_config


@pytest.fixture
def ingest_run(tmp_path: Path) -> Callable[..., RunResult]:
    """Run ``ingest run`` in-process on a config dict in ``tmp_path``; see
    :func:`run_config`."""

    def run(
        config: Mapping[str, Any],
        *args: str | os.PathLike[str],
        corpus: Mapping[str, str | bytes] | None = None,
    ) -> RunResult:
        return run_config(config, *args, directory=tmp_path, corpus=corpus)

    return run
