"""Plugin discovery and the stage registry, one per pipeline.

There is no module-global plugin manager: each :class:`PluginHost` owns a
pluggy ``PluginManager``, so an ETL job can hold two pipelines with different
plugins. Discovery order: the built-in plugins (listed in
:data:`BUILTIN_PLUGINS`, registered exactly like third-party ones), installed
packages through the ``ingest.plugins`` entry-point group (skipped when
``INGEST_DISABLE_PLUGIN_AUTOLOAD`` is set), modules and files named in
``config.toml``, then plugin objects handed over in-process.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from ingest import hookspecs
from ingest.errors import ConfigError, PluginLoadError
from ingest.specs import StageKind, StageSpec

log = logging.getLogger(__name__)

#: The entry-point group installed packages use to register plugins.
ENTRY_POINT_GROUP = "ingest.plugins"
#: Set this environment variable (to anything but "" or "0") to load no
#: plugins from installed packages; built-ins and config-named ones still load.
DISABLE_AUTOLOAD_ENV = "INGEST_DISABLE_PLUGIN_AUTOLOAD"
#: Set this to trace every hook call on stderr.
TRACE_ENV = "INGEST_TRACE_HOOKS"

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
class RegisteredSpec:
    """A :class:`StageSpec` with the plugin that provided it."""

    spec: StageSpec
    plugin: PluginInfo


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def _ingest_version() -> str:
    from ingest import __version__

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
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[LoadFailure] = []
        if _env_flag(TRACE_ENV):
            self.manager.trace.root.setwriter(lambda msg: sys.stderr.write(f"[ingest hooks] {msg}"))
            self.manager.enable_tracing()

        version = _ingest_version()
        for module_name in builtins:
            module = importlib.import_module(module_name)
            self._register(module, PluginInfo(module_name, "builtin", "ingest", version))
        if load_entry_points is None:
            load_entry_points = not _env_flag(DISABLE_AUTOLOAD_ENV)
        if load_entry_points:
            self._load_entry_points()
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin module {module_name!r} named in [plugins] modules could not be "
                    f"imported: {type(exc).__name__}: {exc}"
                ) from exc
            self._register(module, PluginInfo(module_name, "config module", location=getattr(module, "__file__", None)))
        for path in paths:
            module = self._import_path(Path(path))
            self._register(module, PluginInfo(module.__name__, "config file", location=str(path)))
        for obj in plugins:
            name = getattr(obj, "__name__", None) or f"{type(obj).__name__}@{id(obj):x}"
            self._register(obj, PluginInfo(name, "in-process"))
        self._registry: dict[str, RegisteredSpec] | None = None
        self.warnings = self._unknown_hooks()

    # -- loading -----------------------------------------------------------

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
            # A hook implementation whose arguments the hook does not have.
            raise PluginLoadError(f"plugin {info.name!r} ({info.origin}): {exc}") from None
        self.infos[info.name] = info

    def _load_entry_points(self) -> None:
        # Iterate ourselves rather than pluggy's load_setuptools_entrypoints:
        # one broken plugin must not stop the others from loading.
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
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
        module_name = f"ingest_local_plugin_{path.stem}"
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
        """Every stage, source and sink by name, built once per host."""
        if self._registry is None:
            registry: dict[str, RegisteredSpec] = {}
            for impl in self.manager.hook.ingest_stages.get_hookimpls():
                info = self.infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "unknown")
                try:
                    specs = list(impl.function() or ())
                except Exception as exc:
                    raise PluginLoadError(
                        f"plugin {info.name!r} raised in ingest_stages: {type(exc).__name__}: {exc}"
                    ) from exc
                for spec in specs:
                    if not isinstance(spec, StageSpec):
                        raise PluginLoadError(
                            f"plugin {info.name!r} returned {spec!r} from ingest_stages; expected StageSpec"
                        )
                    if spec.name in registry:
                        other = registry[spec.name].plugin
                        raise PluginLoadError(
                            f"stage {spec.name!r} is provided by two plugins: {other.name!r}"
                            f" ({other.origin}) and {info.name!r} ({info.origin}); uninstall or"
                            " disable one of them"
                        )
                    registry[spec.name] = RegisteredSpec(spec, info)
            self._registry = registry
        return self._registry

    def names(self, *kinds: StageKind) -> list[str]:
        """Registered names, optionally only of the given kinds."""
        return sorted(
            name for name, reg in self.registry().items() if not kinds or reg.spec.kind in kinds
        )

    def spec(self, name: str) -> RegisteredSpec | None:
        return self.registry().get(name)

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
        """Every plugin with its provenance and the stages it provides."""
        from ingest.options import describe_options

        by_plugin: dict[str, list[dict[str, Any]]] = {name: [] for name in self.infos}
        for name, reg in sorted(self.registry().items()):
            by_plugin.setdefault(reg.plugin.name, []).append(
                {
                    "name": name,
                    "kind": reg.spec.kind.value,
                    "summary": reg.spec.summary,
                    "needs_corpus": reg.spec.needs_corpus
                    if isinstance(reg.spec.needs_corpus, bool)
                    else "depends on options",
                    "options": describe_options(reg.spec.options),
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
        return described
