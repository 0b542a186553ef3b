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
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from ingest.errors import ConfigError

#: attrs field metadata key: the option is a filesystem path, resolved
#: relative to the config file's directory.
PATH_OPTION = "ingest_path"


def path_field(default: str = "", **kwargs: Any) -> Any:
    """An attrs field holding a path that is relative to the config file."""
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
        return ValueError(
            f"{path}: expected {describe_type(tp)}, got {type(value).__name__} {value!r}"
        )

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


def suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build_options(
    options_cls: type | None,
    values: Mapping[str, Any],
    *,
    where: str,
    base_dir: str | None = None,
) -> Any:
    """Build an instance of ``options_cls`` from a config table.

    ``where`` prefixes every message (the file and the table). Relative
    values of path options are resolved against ``base_dir``.
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
        if field.metadata.get(PATH_OPTION) and isinstance(checked, str) and checked and base_dir:
            checked = os.path.normpath(os.path.join(base_dir, os.path.expanduser(checked)))
        kwargs[field.name] = checked
    if base_dir:
        # Relative defaults of path options are relative to the config too.
        for key, field in fields.items():
            if field.metadata.get(PATH_OPTION) and field.name not in kwargs:
                default = field.default
                if isinstance(default, str) and default and not os.path.isabs(default):
                    kwargs[field.name] = os.path.normpath(os.path.join(base_dir, default))
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
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory() if not default.takes_self else None
        described.append(
            {
                "name": key,
                "type": describe_type(field.type),
                "default": default,
                "help": field.metadata.get("help") or comments.get(field.name, ""),
            }
        )
    return described
