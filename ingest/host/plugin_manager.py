"""Plugin discovery and the stage registry, one per pipeline.

There is no module-global plugin manager: each :class:`PluginHost` owns a
pluggy ``PluginManager``, so an ETL job can hold two pipelines with different
plugins. Discovery order: the built-in plugins (listed in
:data:`BUILTIN_PLUGINS`, registered exactly like third-party ones), installed
packages through the ``ingest.plugins`` entry-point group (skipped when
``INGEST_DISABLE_PLUGIN_AUTOLOAD`` is set), modules and files named in
``config.toml``, then plugin objects handed over in-process.

A plugin named in ``[plugins] disable`` or in ``INGEST_DISABLE_PLUGINS`` is
not loaded at all (an installed package is not even imported). Two plugins
providing the same stage name are not an error until a config uses that
name: ``ingest plugins`` still lists both, with the clash.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import pluggy

from ingest.contract import hookspecs
from ingest.contract.errors import ConfigError, PluginLoadError
from ingest.contract.hookspecs import hookimpl
from ingest.contract.options import default_problems
from ingest.contract.specs import StageKind, StageSpec

log = logging.getLogger(__name__)

#: The entry-point group installed packages use to register plugins.
ENTRY_POINT_GROUP = "ingest.plugins"
#: Set this environment variable (to anything but "" or "0") to load no
#: plugins from installed packages; built-ins and config-named ones still load.
DISABLE_AUTOLOAD_ENV = "INGEST_DISABLE_PLUGIN_AUTOLOAD"
#: Set this to trace every hook call on stderr.
TRACE_ENV = "INGEST_TRACE_HOOKS"
#: Comma-separated plugin names (or, for installed packages, distribution
#: names) not to load, like ``[plugins] disable`` in ``config.toml``.
DISABLE_ENV = "INGEST_DISABLE_PLUGINS"

#: The built-in plugins, registered like any third-party plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "ingest_plugins.text_files",
    "ingest_plugins.jsonl_sink",
    "ingest_plugins.jsonl_source",
    "ingest_plugins.stdin_source",
    "ingest_plugins.parquet_sink",
    "ingest_plugins.csv_sink",
    "ingest_plugins.sqlite_sink",
    "ingest_plugins.header.plugin",
    "ingest_plugins.boilerplate.plugin",
    "ingest_plugins.dedup.plugin",
)


@attrs.frozen
class PluginInfo:
    """A registered plugin and where it came from."""

    name: str
    origin: str  # "builtin", "entry point", "config module", "config file", "in-process"
    distribution: str | None = None
    version: str | None = None
    location: str | None = None


@attrs.frozen
class LoadFailure:
    """A plugin that could not be loaded; a warning unless the config needs it."""

    name: str
    origin: str
    error: str
    distribution: str | None = None


@attrs.frozen
class DisabledPlugin:
    """A plugin that was not loaded because ``[plugins] disable`` or
    ``INGEST_DISABLE_PLUGINS`` names it."""

    name: str
    origin: str
    by: str  # "[plugins] disable" or the environment variable
    distribution: str | None = None
    version: str | None = None


@attrs.frozen
class RegisteredSpec:
    """A :class:`StageSpec` with the plugin that provided it, and what is
    wrong with the spec (an option default that does not match its type)."""

    spec: StageSpec
    plugin: PluginInfo
    problems: tuple[str, ...] = ()


def describe_provider(info: PluginInfo) -> str:
    """``'name' (entry point from pkg 1.0)``: a plugin as messages name it."""
    source = info.origin
    if info.distribution and info.origin != "builtin":
        source += f" from {info.distribution}" + (f" {info.version}" if info.version else "")
    return f"{info.name!r} ({source})"


def hook_arguments(hook_name: str) -> list[str] | None:
    """The arguments ``hook_name`` passes to its implementations, or None
    when there is no such hook."""
    spec = getattr(hookspecs, hook_name, None)
    if spec is None or not callable(spec):
        return None
    return list(inspect.signature(spec).parameters)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def _ingest_version() -> str:
    from ingest.contract.version import __version__

    return __version__


class PluginHost:
    """Loads plugins into a private pluggy manager and builds the registry.

    Use :meth:`hook` to call hooks (``host.hook.ingest_parse_header_line``),
    :meth:`spec` to look a stage up by name.
    """

    def __init__(
        self,
        *,
        modules: Sequence[str] = (),
        paths: Sequence[str | os.PathLike[str]] = (),
        plugins: Iterable[Any] = (),
        load_entry_points: bool | None = None,
        builtins: Sequence[str] = BUILTIN_PLUGINS,
        disable: Sequence[str] = (),
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[LoadFailure] = []
        self.disabled: list[DisabledPlugin] = []
        self.warnings: list[str] = []
        # name -> what disables it; the config's list is checked for typos, the
        # environment's is not (it may outlive the plugin it names)
        self._disable: dict[str, str] = {name: DISABLE_ENV for name in _env_list(DISABLE_ENV)}
        self._disable.update({name: "[plugins] disable" for name in disable})
        self._seen_names: set[str] = set()
        if _env_flag(TRACE_ENV):
            self.manager.trace.root.setwriter(lambda msg: sys.stderr.write(f"[ingest hooks] {msg}"))
            self.manager.enable_tracing()

        version = _ingest_version()
        for module_name in builtins:
            if self._skipped(module_name, "builtin", "ingest", version):
                continue
            module = importlib.import_module(module_name)
            self._register(module, PluginInfo(module_name, "builtin", "ingest", version))
        if load_entry_points is None:
            load_entry_points = not _env_flag(DISABLE_AUTOLOAD_ENV)
        if load_entry_points:
            self._load_entry_points()
        for module_name in modules:
            if self._skipped(module_name, "config module"):
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin module {module_name!r} named in [plugins] modules could not be "
                    f"imported: {type(exc).__name__}: {exc}"
                ) from exc
            self._register(
                module, PluginInfo(module_name, "config module", location=getattr(module, "__file__", None))
            )
        for path in paths:
            if self._skipped(_local_module_name(Path(path)), "config file"):
                continue
            module = self._import_path(Path(path))
            self._register(module, PluginInfo(module.__name__, "config file", location=str(path)))
        for obj in plugins:
            name = getattr(obj, "__name__", None) or f"{type(obj).__name__}@{id(obj):x}"
            if self._skipped(name, "in-process"):
                continue
            self._register(obj, PluginInfo(name, "in-process"))
        self._check_disable_names()
        self._registry: dict[str, RegisteredSpec] | None = None
        self._clashes: dict[str, list[RegisteredSpec]] = {}
        self._provided: list[RegisteredSpec] = []
        self.warnings.extend(self._unknown_hooks())
        # Built now, so a problem in a plugin's stages shows when it loads.
        self.registry()

    # -- loading -----------------------------------------------------------

    def _skipped(
        self, name: str, origin: str, distribution: str | None = None, version: str | None = None
    ) -> bool:
        """Whether the plugin is disabled (then it is noted, not loaded). An
        installed package may be named by its distribution too."""
        self._seen_names.add(name)
        keys = [name]
        if distribution and origin != "builtin":  # "ingest" would mean every built-in
            self._seen_names.add(distribution)
            keys.append(distribution)
        by = next((self._disable[key] for key in keys if key in self._disable), None)
        if by is None:
            return False
        self.disabled.append(DisabledPlugin(name, origin, by, distribution, version))
        log.info("plugin %r (%s) is disabled by %s", name, origin, by)
        return True

    def _check_disable_names(self) -> None:
        import difflib

        unknown = [name for name in self._disable if name not in self._seen_names]
        known = sorted(self._seen_names)
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"disable: no plugin is named {name!r}{hint}; plugins: {', '.join(known)}"
            if self._disable[name] != DISABLE_ENV:
                raise PluginLoadError(message)
            self.warnings.append(f"{DISABLE_ENV} {message}")
            log.warning("%s %s", DISABLE_ENV, message)

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        if self.manager.is_registered(plugin):
            return
        if info.name in self.infos:
            raise ConfigError(
                f"two plugins are named {info.name!r}: {self.infos[info.name].origin} and {info.origin}"
            )
        try:
            self.manager.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            # A hook implementation whose arguments the hook does not have:
            # say which arguments the hook really has.
            detail = "; ".join(self._argument_problems(plugin)) or str(exc)
            raise PluginLoadError(f"plugin {info.name!r} ({info.origin}): {detail}") from None
        self.infos[info.name] = info

    def _argument_problems(self, plugin: Any) -> list[str]:
        """For each hook implementation of ``plugin`` that asks for arguments
        its hook does not pass: what it asks for and what the hook passes."""
        import difflib

        problems = []
        for attr in dir(plugin):
            opts = self.manager.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            hook_name = opts.get("specname") or attr
            passed = hook_arguments(hook_name)
            if passed is None:
                continue  # not a hook: reported as a warning, not here
            try:
                parameters = inspect.signature(getattr(plugin, attr)).parameters.values()
            except (TypeError, ValueError):
                continue
            # pluggy passes only the arguments without a default
            wanted = [
                p.name
                for p in parameters
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
            ]
            extra = [name for name in wanted if name not in passed]
            if not extra:
                continue
            hints = []
            for name in extra:
                close = difflib.get_close_matches(name, passed, n=1)
                if close:
                    hints.append(f"{name!r} -> {close[0]!r}?")
            hint = f" (did you mean {', '.join(hints)})" if hints else ""
            problems.append(
                f"{attr}({', '.join(wanted)}) asks for {', '.join(map(repr, extra))}, which the hook "
                f"{hook_name!r} does not pass{hint}; {hook_name} passes: {', '.join(passed) or '(nothing)'} "
                "(take any of them, by name, or none)"
            )
        return problems

    def _load_entry_points(self) -> None:
        # Iterate ourselves rather than pluggy's load_setuptools_entrypoints:
        # one broken plugin must not stop the others from loading.
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            if self._skipped(ep.name, "entry point", dist, version):
                continue  # not imported: a disabled package may be one that fails to import
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is a named warning
                error = f"{type(exc).__name__}: {exc}"
                self.failures.append(LoadFailure(ep.name, "entry point", error, dist))
                log.warning("plugin %r (%s) failed to load: %s", ep.name, dist, error)
                continue
            if self.manager.is_registered(plugin):
                continue
            try:
                self._register(plugin, PluginInfo(ep.name, "entry point", dist, version, ep.value))
            except PluginLoadError as exc:
                self.failures.append(LoadFailure(ep.name, "entry point", str(exc), dist))
                log.warning("plugin %r (%s) failed to load: %s", ep.name, dist, exc)

    @staticmethod
    def _import_path(path: Path) -> Any:
        if not path.is_file():
            raise PluginLoadError(f"plugin file {str(path)!r} named in [plugins] paths does not exist")
        module_name = _local_module_name(path)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise PluginLoadError(f"plugin file {str(path)!r} is not a Python module")
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs, as an import would: attrs and typing
        # look a module up in sys.modules to resolve its annotations.
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            raise PluginLoadError(f"plugin file {str(path)!r} failed to import: {detail}") from exc
        return module

    def _unknown_hooks(self) -> list[str]:
        """Warn about implementations of hooks that do not exist (a typo
        would otherwise mean the hook is silently never called)."""
        import difflib

        known = [name for name in dir(hookspecs) if name.startswith("ingest_")]
        warnings = []
        for name, caller in vars(self.manager.hook).items():
            if name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                message = f"plugin {impl.plugin_name!r} implements {name!r}, which is not an ingest hook{hint}; it is never called"
                log.warning("%s", message)
                warnings.append(message)
        return warnings

    # -- the registry ------------------------------------------------------

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``host.hook.<hook name>(**kwargs)``."""
        return self.manager.hook

    def registry(self) -> dict[str, RegisteredSpec]:
        """Every stage, source and sink by name, built once per host.

        A name two plugins provide is left out (see :meth:`clash`): a config
        that uses it is an error, others are not affected."""
        if self._registry is None:
            provided: list[RegisteredSpec] = []
            for impl in self.manager.hook.ingest_stages.get_hookimpls():
                info = self.infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "unknown")
                try:
                    specs = list(cast(Iterable[Any], impl.function() or ()))
                except Exception as exc:
                    raise PluginLoadError(
                        f"plugin {info.name!r} raised in ingest_stages: {type(exc).__name__}: {exc}"
                    ) from exc
                for spec in specs:
                    if not isinstance(spec, StageSpec):
                        raise PluginLoadError(
                            f"plugin {info.name!r} returned {spec!r} from ingest_stages; expected StageSpec"
                        )
                    problems = tuple(
                        f"plugin {info.name!r}, stage {spec.name!r}: {problem}"
                        for problem in default_problems(spec.options)
                    )
                    provided.append(RegisteredSpec(spec, info, problems))
            # in registration order (pluggy lists the first registered first)
            by_name: dict[str, list[RegisteredSpec]] = {}
            for reg in provided:
                by_name.setdefault(reg.spec.name, []).append(reg)
            self._provided = provided
            self._clashes = {name: regs for name, regs in by_name.items() if len(regs) > 1}
            self._registry = {name: regs[0] for name, regs in by_name.items() if len(regs) == 1}
            for reg in provided:
                for problem in reg.problems:
                    self.warnings.append(problem)
                    log.warning("%s", problem)
            for name in self._clashes:
                message = self.clash_message(name)
                self.warnings.append(message)
                log.warning("%s", message)
        return self._registry

    def clash(self, name: str) -> list[RegisteredSpec]:
        """The registrations of ``name`` when two or more plugins provide it, else []."""
        self.registry()
        return list(self._clashes.get(name, ()))

    def clash_message(self, name: str) -> str:
        """What to tell a config that uses a stage name several plugins provide
        ("" when the name is not clashing)."""
        regs = self.clash(name)
        if not regs:
            return ""
        providers = " and ".join(describe_provider(reg.plugin) for reg in regs)
        example = regs[-1].plugin.distribution if regs[-1].plugin.origin == "entry point" else None
        example = example or regs[-1].plugin.name
        return (
            f"stage {name!r} is provided by {'two' if len(regs) == 2 else len(regs)} plugins: {providers}; "
            "disable all but one with "
            f'[plugins] disable = ["{example}"] in the config or {DISABLE_ENV}={example}, or uninstall one'
        )

    def names(self, *kinds: StageKind) -> list[str]:
        """Registered names, optionally only of the given kinds (a name
        several plugins provide is listed too: choosing it explains the clash)."""
        self.registry()
        return sorted({reg.spec.name for reg in self._provided if not kinds or reg.spec.kind in kinds})

    def spec(self, name: str) -> RegisteredSpec | None:
        """The registration of ``name``, or None when no plugin provides it.
        Raises :class:`PluginLoadError` when several plugins provide it."""
        registered = self.registry().get(name)
        if registered is None and name in self._clashes:
            raise PluginLoadError(self.clash_message(name))
        return registered

    def failure_hint(self) -> str:
        """A sentence about plugins that failed to load, for 'unknown stage' errors."""
        if not self.failures:
            return ""
        listed = "; ".join(f"{f.name} ({f.distribution or f.origin}): {f.error}" for f in self.failures)
        return f" (plugins that failed to load: {listed})"

    def hook_implementations(self) -> dict[str, list[str]]:
        """For each hook, the plugins implementing it, in call order."""
        result = {}
        for name in sorted(dir(self.manager.hook)):
            if not name.startswith("ingest_"):
                continue
            caller = getattr(self.manager.hook, name)
            # pluggy calls the last registered first.
            result[name] = [impl.plugin_name for impl in reversed(caller.get_hookimpls())]
        return result

    def describe(self) -> list[dict[str, Any]]:
        """Every plugin with its provenance and the stages it provides; a
        stage's ``problems`` say what stops a config from using it (another
        plugin providing the same name, an option default of the wrong type).
        Disabled plugins are listed with ``disabled`` saying by what."""
        from ingest.contract.options import describe_options

        self.registry()
        by_plugin: dict[str, list[dict[str, Any]]] = {name: [] for name in self.infos}
        for reg in sorted(self._provided, key=lambda r: r.spec.name):
            name = reg.spec.name
            problems = list(reg.problems)
            others = [other.plugin for other in self.clash(name) if other is not reg]
            if others:
                problems.insert(
                    0,
                    f"also provided by {', '.join(describe_provider(o) for o in others)}: a config that uses "
                    f"{name!r} fails until all but one are disabled ([plugins] disable or {DISABLE_ENV})",
                )
            by_plugin.setdefault(reg.plugin.name, []).append(
                {
                    "name": name,
                    "kind": reg.spec.kind.value,
                    "summary": reg.spec.summary,
                    "needs_corpus": reg.spec.needs_corpus
                    if isinstance(reg.spec.needs_corpus, bool)
                    else "depends on options",
                    "options": describe_options(reg.spec.options),
                    "problems": problems,
                }
            )
        hooks = self.hook_implementations()
        described = []
        for name, info in self.infos.items():
            described.append(
                {
                    "name": name,
                    "origin": info.origin,
                    "distribution": info.distribution,
                    "version": info.version,
                    "location": info.location,
                    "stages": by_plugin.get(name, []),
                    "hooks": sorted(h for h, impls in hooks.items() if name in impls),
                }
            )
        for failure in self.failures:
            described.append(
                {
                    "name": failure.name,
                    "origin": failure.origin,
                    "distribution": failure.distribution,
                    "error": failure.error,
                    "stages": [],
                    "hooks": [],
                }
            )
        for off in self.disabled:
            described.append(
                {
                    "name": off.name,
                    "origin": off.origin,
                    "distribution": off.distribution,
                    "version": off.version,
                    "disabled": off.by,
                    "stages": [],
                    "hooks": [],
                }
            )
        return described


def _env_list(name: str) -> list[str]:
    """A comma-separated environment variable as a list of non-empty names."""
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


def _local_module_name(path: Path) -> str:
    """The module name a plugin file named in ``[plugins] paths`` gets."""
    return f"ingest_local_plugin_{path.stem}"


@attrs.frozen
class FunctionStage:
    """A plugin providing one per-document stage made from a function:
    what ``Pipeline.from_dict(..., stages={name: fn})`` registers. Its
    plugin name (in ``ingest plugins`` and drop records) is ``function:<name>``."""

    stage_name: str
    function: Callable[..., Any]

    @property
    def __name__(self) -> str:  # PluginHost names in-process plugins by __name__
        return f"function:{self.stage_name}"

    @hookimpl
    def ingest_stages(self) -> list[StageSpec]:
        function = self.function

        def factory(_options: Any, _ctx: Any) -> Callable[..., Any]:
            return function

        summary = (getattr(function, "__doc__", None) or "").strip().split("\n")[0]
        return [StageSpec(self.stage_name, StageKind.TRANSFORM, factory, None, summary, per_document=True)]


def function_stages(stages: Mapping[str, Callable[..., Any]]) -> list[FunctionStage]:
    """Plugins for ``{stage name: function}``, each function ``Document ->
    Document | Drop`` (a per-document stage without options)."""
    plugins = []
    for name, function in stages.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"stages: a stage name must be a non-empty string, got {name!r}")
        if not callable(function):
            raise TypeError(
                f"stages: {name!r} must be a function Document -> Document | Drop, "
                f"got {type(function).__name__}"
            )
        plugins.append(FunctionStage(name, function))
    return plugins
