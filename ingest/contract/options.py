"""Turn a config table into a stage's attrs options class, with pointed errors.

Each stage declares its options as an attrs class with defaults. This module
checks a mapping from ``config.toml`` against it: unknown keys (with the
closest allowed spelling), wrong types, and the class's own validators, and
reports each with where it was found (``config.toml: [[pipeline]] #2
(id "dedup"): key "treshold"``).
"""

from __future__ import annotations

import datetime
import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from ingest.contract.errors import ConfigError

#: attrs field metadata key: the option is a filesystem path, resolved
#: relative to the config file's directory.
PATH_OPTION = "ingest_path"

# A scheme and "://" (s3://bucket/x, memory://x), or fsspec's chaining
# ("simplecache::s3://bucket/x"). A scheme has no "/" and at least two
# characters, so neither "data/a://b" nor a Windows drive ("C:\\x") matches.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+(://|::)")


def is_url(path: str) -> bool:
    """Whether a path option holds a URL (``s3://bucket/in``) rather than a
    local path: such a value is used as written, never resolved against the
    config file's folder, and sources and sinks that support it open it
    through fsspec."""
    return _URL.match(path) is not None


def local_path(value: str) -> str:
    """A ``file://`` URL naming a local absolute path as that path
    (``file:///data/in`` -> ``/data/in``), so that it gets everything a
    local folder has (atomic renames, the output lock, resume); any other
    value unchanged."""
    if value.startswith("file://") and "::" not in value:
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(value)
        if parts.netloc in ("", "localhost") and parts.path.startswith("/"):
            return url2pathname(parts.path)
    return value


def path_field(default: str = "", **kwargs: Any) -> Any:
    """An attrs field holding a path that is relative to the config file.

    Declare every option that is a file or folder with it
    (``path: str = path_field("out", metadata={"help": ...})``): a relative
    value in ``config.toml``, and a relative default, is then resolved against
    the config file's folder (``base_dir`` for ``Pipeline.from_dict``), and
    ``~`` is expanded. A plain ``str`` field reaches the stage as written, so
    ``open`` would resolve it against the working directory instead. A URL
    (``s3://bucket/out``, see :func:`is_url`) is kept as written; a
    ``file://`` URL of a local path becomes that path.
    """
    metadata = {**kwargs.pop("metadata", {}), PATH_OPTION: True}
    return attrs.field(default=default, metadata=metadata, **kwargs)


def option_fields(options_cls: type) -> dict[str, attrs.Attribute]:
    """The public option fields of an options class, by config key."""
    attrs.resolve_types(options_cls)
    return {f.alias or f.name: f for f in attrs.fields(options_cls) if f.init}


def describe_type(tp: Any) -> str:
    """A user-facing name for a type annotation: ``list of str``, ``number``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "integer"
    if tp is float:
        return "number"
    if tp is str:
        return "string"
    if tp is datetime.date:
        return "date (YYYY-MM-DD)"
    if tp is Any or tp is object:
        return "any value"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, typing.Sequence) or origin is getattr(typing, "List", None):
        return f"list of {describe_type(args[0]) if args else 'values'}"
    if origin in (dict, typing.Mapping, Mapping):
        return f"table of {describe_type(args[1]) if len(args) == 2 else 'values'}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else ""
        )
    return getattr(tp, "__name__", str(tp))


def check_type(value: Any, tp: Any, path: str) -> Any:
    """Check (and lightly convert) ``value`` against ``tp``.

    Returns the value to store; raises ``ValueError(message)`` where the
    message starts with the dotted key path that failed.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail() -> ValueError:
        return ValueError(f"{path}: expected {describe_type(tp)}, got {type(value).__name__} {value!r}")

    if tp is Any or tp is object:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail()
        return value
    if tp is datetime.date:
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                raise fail() from None
        raise fail()
    if origin is typing.Literal:
        if value not in args:
            raise fail()
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_type(value, arg, path)
            except ValueError:
                continue
        raise fail()
    if origin in (list, tuple) or origin is typing.Sequence:
        if not isinstance(value, (list, tuple)):
            raise fail()
        item_tp = args[0] if args else Any
        return [check_type(item, item_tp, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin in (dict, Mapping) or origin is typing.Mapping:
        if not isinstance(value, Mapping):
            raise fail()
        key_tp, val_tp = args if len(args) == 2 else (str, Any)
        return {
            check_type(k, key_tp, f"{path}.{k}"): check_type(v, val_tp, f"{path}.{k}")
            for k, v in value.items()
        }
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise fail()


def _default_value(field: attrs.Attribute) -> Any:
    """A field's default as an instance gets it (a factory is called), or
    ``attrs.NOTHING`` when there is none or it depends on the instance."""
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return attrs.NOTHING
        try:
            return default.factory()
        except Exception:  # noqa: BLE001 - a factory that cannot run here is not ours to judge
            return attrs.NOTHING
    return default


def default_problems(options_cls: type | None) -> list[str]:
    """Options whose default is not of their declared type (``int`` with the
    default ``"50"``): each one as a sentence naming the option, the default
    and the type. A field with a converter is left alone (attrs converts the
    default too)."""
    if options_cls is None:
        return []
    try:
        fields = option_fields(options_cls)
    except Exception as exc:  # noqa: BLE001 - an annotation that does not resolve
        return [f"the options class {options_cls.__name__} cannot be read: {type(exc).__name__}: {exc}"]
    problems = []
    for key, field in fields.items():
        default = _default_value(field)
        if default is attrs.NOTHING or field.converter is not None or field.type is None:
            continue
        try:
            check_type(default, field.type, key)
        except ValueError:
            problems.append(
                f"option {key!r} defaults to {default!r} ({type(default).__name__}), but is declared "
                f"{describe_type(field.type)}"
            )
    return problems


def suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build_options(
    options_cls: type | None,
    values: Mapping[str, Any],
    *,
    where: str,
    base_dir: str | None = None,
    owner: str = "",
) -> Any:
    """Build an instance of ``options_cls`` from a config table.

    ``where`` prefixes every message (the file and the table). Relative
    values of path options are resolved against ``base_dir``. An option the
    table leaves out whose default does not match its declared type is an
    error here, naming ``owner`` (``stage 'x' of plugin 'y'``): otherwise
    every document would fail on it.
    """
    import os

    if options_cls is None:
        if values:
            raise ConfigError(f"{where}: this stage takes no options, got {sorted(values)}")
        return None
    fields = option_fields(options_cls)
    allowed = sorted(fields)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"{where}: unknown option {key!r}{suggest(key, allowed)}; "
                f"allowed: {', '.join(allowed) or '(none)'}"
            )
        field = fields[key]
        try:
            checked = check_type(value, field.type, key)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if field.metadata.get(PATH_OPTION) and isinstance(checked, str) and checked:
            checked = local_path(checked)
            if base_dir and not is_url(checked):
                checked = os.path.normpath(os.path.join(base_dir, os.path.expanduser(checked)))
        kwargs[field.name] = checked
    if base_dir:
        # Relative defaults of path options are relative to the config too.
        for field in fields.values():
            if field.metadata.get(PATH_OPTION) and field.name not in kwargs:
                default = field.default
                if isinstance(default, str) and default and not os.path.isabs(default):
                    kwargs[field.name] = os.path.normpath(os.path.join(base_dir, default))
    for key, field in fields.items():
        if field.name in kwargs or field.converter is not None or field.type is None:
            continue
        default = _default_value(field)
        if default is attrs.NOTHING:
            continue
        try:
            check_type(default, field.type, key)
        except ValueError:
            raise ConfigError(
                f"{where}: option {key!r} {('of ' + owner + ' ') if owner else ''}defaults to {default!r} "
                f"({type(default).__name__}), but is declared {describe_type(field.type)}: the plugin's "
                f"default is wrong; set {key} in the config (or fix the default in the plugin)"
            ) from None
    try:
        return options_cls(**kwargs)
    except (ValueError, TypeError) as exc:
        # attrs validators name the field in their own words; keep them.
        raise ConfigError(f"{where}: {exc}") from None


def field_comments(options_cls: type) -> dict[str, str]:
    """``#:`` comments written above fields (Sphinx's convention), by field
    name, across the class and its bases: the help text of options that have
    no ``help`` metadata."""
    import inspect
    import re

    comments: dict[str, str] = {}
    for klass in reversed(options_cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            match = re.match(r"(\w+)\s*:", stripped)
            if match and pending:
                comments[match.group(1)] = " ".join(pending)
            pending = []
    return comments


def describe_options(options_cls: type | None) -> list[dict[str, Any]]:
    """Name, type, default and help of each option (help from field metadata,
    else from a ``#:`` comment above the field)."""
    if options_cls is None:
        return []
    comments = field_comments(options_cls)
    described = []
    for key, field in option_fields(options_cls).items():
        default = _default_value(field)
        if default is attrs.NOTHING:
            default = None
        described.append(
            {
                "name": key,
                "type": describe_type(field.type),
                "default": default,
                "help": field.metadata.get("help") or comments.get(field.name, ""),
            }
        )
    return described
