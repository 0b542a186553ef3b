"""Reading ``config.toml`` and resolving it against the plugin registry.

The file has these tables, all optional except ``[[pipeline]]`` for a run
that should do anything::

    [source]            # where documents come from: type = "<source name>" + its options
    [sink]              # where kept documents go:  type = "<sink name>" + its options
    [plugins]           # modules = ["pkg.mod"], paths = ["./my_plugin.py"], disable = ["name"]
    [run]               # run-wide settings (see RunOptions)
    [[pipeline]]        # one table per stage, in run order:
                        #   stage = "<stage name>", id = "<unique id>", enabled = true,
                        #   and the stage's options; or pipeline = ["header", ...]
                        #   (bare stage names) when no stage needs options

Every problem is a :class:`~ingest.contract.errors.ConfigError` that names the file,
the table and the key, and says what is allowed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ingest.contract.errors import ConfigError, IngestError
from ingest.contract.options import build_options, check_type, option_fields, path_field, suggest
from ingest.contract.specs import StageKind
from ingest.host.plugin_manager import DISABLE_ENV, PluginHost, RegisteredSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

TOP_LEVEL_KEYS = ("source", "sink", "plugins", "run", "pipeline")
DEFAULT_SOURCE = "text_files"
DEFAULT_SINK = "jsonl"

#: The names ``[run] executor`` accepts (see :mod:`ingest.executors`).
EXECUTORS = ("local", "ray")
#: Values of ``[run] shards``.
SHARD_MODES = ("auto", "on", "off")


def _one_of(allowed: Sequence[str]) -> Any:
    def check(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ValueError(f"{attr.name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")

    return check


@attrs.define
class RunOptions:
    """The ``[run]`` table."""

    #: Directory for spools of corpus-level stages; empty = a temporary one.
    workdir: str = path_field(metadata={"help": "scratch directory for spools (default: a temporary one)"})
    #: Worker processes for per-document stages; 0 = one per core.
    workers: int = attrs.field(
        default=0,
        validator=attrs.validators.ge(0),
        metadata={"help": "worker processes for per-document stages (0 = one per core, 1 = no workers)"},
    )
    #: Documents a corpus-level stage's spool holds in memory before it spills to disk.
    spool_memory_mb: int = attrs.field(
        default=32,
        validator=attrs.validators.ge(0),
        metadata={
            "help": "MB of documents a corpus-level stage (dedup) holds in memory before spooling them "
            "to the workdir; 0 = always on disk"
        },
    )
    #: Keep every drop record in memory for ``Pipeline.ledger``.
    keep_drop_records: bool = attrs.field(
        default=True, metadata={"help": "keep drop records in memory for Pipeline.ledger"}
    )
    #: Write a checkpoint every this many inputs, so a killed run resumes; 0 = never.
    checkpoint_every: int = attrs.field(
        default=1000,
        validator=attrs.validators.ge(0),
        metadata={
            "help": "write a checkpoint into the output folder every this many inputs, so an interrupted "
            "run resumes where it stopped (sinks that support it: jsonl); 0 = off"
        },
    )
    #: Whether a run is cut into shards, each a task with output files of its own.
    shards: str = attrs.field(
        default="auto",
        validator=_one_of(SHARD_MODES),
        metadata={
            "help": "auto: cut the input into shards of shard_files files, each read, processed and written "
            "by a task of its own (documents-00000.jsonl, ...), when the input makes more than one and "
            "every stage is per-document; on: always (an error when the pipeline cannot be sharded); "
            "off: never"
        },
    )
    #: Input files per shard.
    shard_files: int = attrs.field(
        default=2_000,
        validator=attrs.validators.ge(1),
        metadata={
            "help": "input files per shard (lines for jsonl_files); the files of the last two are cut "
            "anew into shards that get smaller (half of what is left, three times, then the rest)"
        },
    )
    #: Where per-document stages and corpus-stage work run: "local" or "ray".
    executor: str = attrs.field(
        default="local",
        validator=_one_of(EXECUTORS),
        metadata={"help": "local (this machine's processes) or ray (Ray tasks; pip install 'ingest[ray]')"},
    )
    #: The Ray cluster to connect to; empty = start a local Ray instance.
    ray_address: str = attrs.field(
        default="",
        metadata={
            "help": "with executor = ray: the cluster to connect to (auto, ray://host:10001); "
            "empty = start a local Ray instance with [run] workers CPUs (0 = all)"
        },
    )
    #: The share of a stage's input it may fail on (raise) before the run fails.
    max_error_rate: float = attrs.field(
        default=1.0,
        validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)],
        metadata={
            "help": "fail the run (exit 1, no complete-looking output) when a stage raised on more than this "
            "share of its input, 0 to 1 (0 = any error fails the run); 1 = never (errors are only recorded)"
        },
    )


@attrs.define
class PluginSettings:
    """The ``[plugins]`` table."""

    modules: list[str] = attrs.field(
        factory=list, metadata={"help": "importable modules to register as plugins"}
    )
    paths: list[str] = attrs.field(
        factory=list, metadata={"help": "Python files to register as plugins (relative to the config)"}
    )
    disable: list[str] = attrs.field(
        factory=list,
        metadata={
            "help": "plugins not to load, by name as `ingest plugins` shows it (or an installed package's "
            f"distribution name); {DISABLE_ENV}=a,b does the same from the environment"
        },
    )


@attrs.frozen
class StageConfig:
    """One configured use of a stage (or the source or sink)."""

    id: str
    name: str
    registered: RegisteredSpec
    options: Any
    enabled: bool = True

    @property
    def spec(self):
        return self.registered.spec

    @property
    def per_document(self) -> bool:
        return self.spec.runs_per_document(self.options)

    @property
    def needs_corpus(self) -> bool:
        return self.spec.reads_corpus(self.options)


@attrs.frozen
class PipelineConfig:
    """A config resolved against a plugin registry; ready to run."""

    path: str | None
    base_dir: str
    source: StageConfig | None
    sink: StageConfig | None
    stages: tuple[StageConfig, ...]
    run: RunOptions
    #: What the reader should know about how the config was read: the
    #: options a command-line type switch left out.
    notes: tuple[str, ...] = ()


def check_ray(where: str) -> None:
    """Raise a :class:`ConfigError` at ``where`` unless Ray can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"{where}: 'ray' needs Ray, which is not installed ({exc}); install it with: pip install 'ingest[ray]'"
        ) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file, line and column."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value, falling back to a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


class _Absent:
    """The value of :attr:`Override.previous` for a key the config did not have."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"  # unpickled (in a Ray worker) as the same object


#: :attr:`Override.previous` of a key the config did not have.
ABSENT: Any = _Absent()


@attrs.frozen
class Override:
    """One command-line change to the config: ``--set KEY=VALUE``, or an
    option such as ``--input`` that sets a key.

    ``origin`` is what the user typed (``--set dedup.treshold=0.5``): errors
    about the value name it rather than the config file. ``table`` is
    ``source``, ``sink``, ``run``, ``plugins`` or a stage id; ``previous`` is
    the value the key had before (:data:`ABSENT` when none), filled in by
    :func:`override_config`.
    """

    origin: str
    table: str
    option: str
    value: Any
    previous: Any = ABSENT


def parse_override(item: str, where: str = "--set") -> Override:
    """Read one ``KEY=VALUE`` (``where`` names the option it came with)."""
    import shlex

    key, sep, value = item.partition("=")
    if not sep or "." not in key:
        raise ConfigError(f"{where} {item!r}: expected KEY=VALUE with KEY like 'dedup.threshold'")
    table, _, option = key.strip().partition(".")
    return Override(f"{where} {shlex.quote(item)}", table, option.strip(), parse_value(value.strip()))


def override_config(
    raw: Mapping[str, Any], overrides: Sequence[str | Override]
) -> tuple[dict[str, Any], list[Override]]:
    """Apply overrides (``KEY=VALUE`` strings as for ``--set``, or
    :class:`Override`s) to a copy of a raw config mapping; return the copy
    and the overrides, each with the value it replaced. A stage id that is
    not in the config is a :class:`ConfigError` naming the override."""
    import copy

    changed: dict[str, Any] = copy.deepcopy(dict(raw))
    applied = []
    for item in overrides:
        override = parse_override(item) if isinstance(item, str) else item
        table, option = override.table, override.option
        if table in ("source", "sink", "run", "plugins"):
            target = changed.setdefault(table, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{override.origin}: [{table}] in the config is not a table")
        else:
            entries = changed.get("pipeline", [])
            if isinstance(entries, list) and "pipeline" in changed:
                # a bare stage name becomes its table, so it can take the option
                entries = changed["pipeline"] = [{"stage": e} if isinstance(e, str) else e for e in entries]
            matches = [e for e in entries if isinstance(e, dict) and e.get("id", e.get("stage")) == table]
            if not matches:
                ids = [str(e.get("id", e.get("stage"))) for e in entries if isinstance(e, dict)]
                raise ConfigError(
                    f"{override.origin}: no stage with id {table!r}{suggest(table, ids)}; "
                    f"stage ids: {', '.join(map(str, ids)) or '(none)'}; also source, sink, run"
                )
            target = matches[0]
        applied.append(attrs.evolve(override, previous=target.get(option, ABSENT)))
        target[option] = override.value
    return changed, applied


def apply_overrides(raw: dict[str, Any], sets: Sequence[str], where: str = "--set") -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides to a raw config mapping (a copy).

    ``KEY`` is ``<stage id>.<option>``, ``source.<option>``, ``sink.<option>``
    or ``run.<option>``. ``VALUE`` is read as TOML (``0.7``, ``true``,
    ``["a", "b"]``), or as a plain string when it is not valid TOML.
    """
    return override_config(raw, [parse_override(item, where) for item in sets])[0]


def _build(
    options_cls: type | None,
    values: Mapping[str, Any],
    *,
    where: str,
    base_dir: str,
    owner: str,
    what: str,
    overrides: Sequence[Override],
) -> Any:
    """:func:`build_options`, where a bad value that came from the command
    line is reported as the override's (``--set dedup.treshold=0.5: unknown
    option 'treshold' of stage 'dedup'``), not as the config file's."""
    mine = {o.option: o for o in overrides if o.option in values}  # the last one of a key holds the value
    if not mine:
        return build_options(options_cls, values, where=where, base_dir=base_dir, owner=owner)
    fields = option_fields(options_cls) if options_cls is not None else {}
    for key, override in mine.items():
        field = fields.get(key)
        if field is None:
            allowed = sorted(fields)
            raise ConfigError(
                f"{override.origin}: unknown option {key!r} of {what}{suggest(key, allowed)}; "
                f"allowed: {', '.join(allowed) or '(none)'}"
            )
        try:
            check_type(values[key], field.type, key)
        except ValueError as exc:
            raise ConfigError(f"{override.origin}: {exc}") from None
    try:
        return build_options(options_cls, values, where=where, base_dir=base_dir, owner=owner)
    except ConfigError as exc:
        failure = exc
    # A validator refused: blame the override that fails on the file's other values.
    rest = {k: v for k, v in values.items() if k not in mine}
    try:
        build_options(options_cls, rest, where=where, base_dir=base_dir, owner=owner)
    except ConfigError:
        raise failure from None  # the file's own values fail already
    for key, override in mine.items():
        build_options(options_cls, {**rest, key: values[key]}, where=override.origin, base_dir=base_dir)
    origins = ", ".join(o.origin for o in mine.values())
    build_options(options_cls, values, where=f"{where} with {origins}", base_dir=base_dir, owner=owner)
    raise failure  # not reached: the same values failed above


def plugin_settings(raw: Mapping[str, Any], *, path: str | None, base_dir: str) -> PluginSettings:
    where = f"{path or '<config>'}: [plugins]"
    table = raw.get("plugins", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table")
    settings = build_options(PluginSettings, table, where=where)
    settings.paths = [os.path.normpath(os.path.join(base_dir, p)) for p in settings.paths]
    return settings


def plugin_host(
    raw: Mapping[str, Any],
    *,
    path: str | None,
    base_dir: str,
    plugins: Sequence[Any] = (),
    load_entry_points: bool | None = None,
) -> PluginHost:
    """The plugins a config asks for (its ``[plugins]`` table), loaded
    without resolving its stages: what ``ingest plugins -c`` lists even when
    the config could not run. A plugin problem is a :class:`ConfigError`."""
    settings = plugin_settings(raw, path=path, base_dir=base_dir)
    try:
        return PluginHost(
            modules=settings.modules,
            paths=settings.paths,
            plugins=plugins,
            load_entry_points=load_entry_points,
            disable=settings.disable,
        )
    except ConfigError:
        raise
    except IngestError as exc:
        raise ConfigError(f"{path or '<config>'}: [plugins]: {exc}") from exc


def _owner(registered: RegisteredSpec) -> str:
    return f"stage {registered.spec.name!r} (plugin {registered.plugin.name!r})"


def _resolve_io(
    raw: Mapping[str, Any],
    table: str,
    kind: StageKind,
    default: str | None,
    host: PluginHost,
    path: str | None,
    base_dir: str,
    overrides: Sequence[Override] = (),
    notes: list[str] | None = None,
) -> StageConfig | None:
    where = f"{path or '<config>'}: [{table}]"
    values = raw.get(table)
    if values is None:
        if default is None:
            return None
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table")
    values = dict(values)
    name = values.pop("type", default)
    mine = [o for o in overrides if o.table == table]
    typed = [o for o in mine if o.option == "type"]
    # an unknown type that came from the command line is the command line's
    where_type = typed[-1].origin if typed else where
    clash = host.clash_message(str(name)) if name is not None else ""
    if clash:
        raise ConfigError(f"{where_type}: {clash}")
    registered = host.spec(str(name)) if name is not None else None
    if registered is None or registered.spec.kind is not kind:
        available = host.names(kind)
        raise ConfigError(
            f"{where_type}: unknown {table} type {name!r}{suggest(str(name), available)}; "
            f"available: {', '.join(available) or '(none)'}{host.failure_hint()}"
        )
    if typed:
        before = typed[0].previous
        if str(name) != str(default if before is ABSENT else before):
            # --set source.type=X switches the type: the file's options the new type
            # has are kept, the others left out (one also set on the command line is an error)
            fields = option_fields(registered.spec.options) if registered.spec.options is not None else {}
            set_keys = {o.option for o in mine}
            left_out = sorted(key for key in values if key not in fields and key not in set_keys)
            for key in left_out:
                del values[key]
            if left_out and notes is not None:
                notes.append(
                    f"{typed[-1].origin}: left out the [{table}] options that {table} type {name!r} does "
                    f"not have: {', '.join(left_out)}"
                )
    options = _build(
        registered.spec.options,
        values,
        where=f"{where} (type {name!r})",
        base_dir=base_dir,
        owner=_owner(registered),
        what=f"{table} type {name!r}",
        overrides=mine,
    )
    return StageConfig(id=table, name=str(name), registered=registered, options=options)


def resolve(
    raw: Mapping[str, Any],
    host: PluginHost,
    *,
    path: str | None = None,
    base_dir: str | None = None,
    skip: Sequence[str] = (),
    default_io: bool = True,
    overrides: Sequence[Override] = (),
) -> PipelineConfig:
    """Check a raw config mapping against ``host``'s registry and build options.

    ``skip`` lists stage ids to disable (``--skip``); an id that is not in
    the config is an error. With ``default_io`` a missing ``[source]`` or
    ``[sink]`` means the text-file source and JSONL sink. ``overrides`` are
    the command-line changes already applied to ``raw`` (see
    :func:`override_config`): an error in a value one of them set names it,
    and one that sets ``source.type`` or ``sink.type`` to another type
    switches the type, leaving out the options the new type does not have
    (said in :attr:`PipelineConfig.notes`).
    """
    notes: list[str] = []
    where_file = path or "<config>"
    base_dir = base_dir or (str(Path(path).resolve().parent) if path else os.getcwd())
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"{where_file}: unknown table or key {key!r}{suggest(key, list(TOP_LEVEL_KEYS))}; "
            f"allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )
    run_table = raw.get("run", {})
    if not isinstance(run_table, Mapping):
        raise ConfigError(f"{where_file}: [run]: expected a table")
    run = _build(
        RunOptions,
        run_table,
        where=f"{where_file}: [run]",
        base_dir=base_dir,
        owner="",
        what="[run]",
        overrides=[o for o in overrides if o.table == "run"],
    )
    if run.executor == "ray":
        check_ray(f"{where_file}: [run] executor")

    entries = raw.get("pipeline", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where_file}: 'pipeline' must be an array of tables: write [[pipeline]]")
    stage_kinds = [k for k in StageKind if k not in (StageKind.SOURCE, StageKind.SINK)]
    stages: list[StageConfig] = []
    seen_ids: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{where_file}: [[pipeline]] #{number}"
        if isinstance(entry, str):
            entry = {"stage": entry}  # a bare stage name: the stage with its default options
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"{where}: expected a table or a stage name, got {type(entry).__name__} {entry!r}"
            )
        values = dict(entry)
        name = values.pop("stage", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{where}: missing key 'stage' (the stage to run); available: {', '.join(host.names(*stage_kinds))}"
            )
        stage_id = values.pop("id", name)
        if not isinstance(stage_id, str) or not stage_id or "." in stage_id:
            raise ConfigError(f"{where}: 'id' must be a non-empty string without dots, got {stage_id!r}")
        where = f"{where_file}: [[pipeline]] #{number} (id {stage_id!r})"
        enabled = values.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where}: 'enabled' must be true or false, got {enabled!r}")
        if stage_id in seen_ids:
            raise ConfigError(
                f"{where}: id {stage_id!r} is already used by [[pipeline]] #{seen_ids[stage_id]}; "
                "give each use of a stage its own id"
            )
        if stage_id in ("source", "sink", "run", "plugins"):
            raise ConfigError(f"{where}: id {stage_id!r} is reserved; choose another")
        seen_ids[stage_id] = number
        clash = host.clash_message(name)
        if clash:
            raise ConfigError(f"{where}: {clash}")
        registered = host.spec(name)
        if registered is None or registered.spec.kind in (StageKind.SOURCE, StageKind.SINK):
            available = host.names(*stage_kinds)
            raise ConfigError(
                f"{where}: unknown stage {name!r}{suggest(name, available)}; "
                f"available stages: {', '.join(available) or '(none)'}{host.failure_hint()}"
            )
        options = _build(
            registered.spec.options,
            values,
            where=where,
            base_dir=base_dir,
            owner=_owner(registered),
            what=f"stage {stage_id!r}" if stage_id == name else f"stage {stage_id!r} ({name})",
            overrides=[o for o in overrides if o.table == stage_id],
        )
        stages.append(
            StageConfig(id=stage_id, name=name, registered=registered, options=options, enabled=enabled)
        )
    for stage_id in skip:
        if stage_id not in seen_ids:
            raise ConfigError(
                f"--skip {stage_id!r}: no stage with that id{suggest(stage_id, list(seen_ids))}; "
                f"stage ids: {', '.join(seen_ids) or '(none)'}"
            )
    stages = [attrs.evolve(s, enabled=s.enabled and s.id not in skip) for s in stages]

    source = _resolve_io(
        raw,
        "source",
        StageKind.SOURCE,
        DEFAULT_SOURCE if default_io else None,
        host,
        path,
        base_dir,
        overrides,
        notes,
    )
    sink = _resolve_io(
        raw,
        "sink",
        StageKind.SINK,
        DEFAULT_SINK if default_io else None,
        host,
        path,
        base_dir,
        overrides,
        notes,
    )
    return PipelineConfig(
        path=path,
        base_dir=base_dir,
        source=source,
        sink=sink,
        stages=tuple(stages),
        run=run,
        notes=tuple(notes),
    )
