"""The ``header`` stage: header lines become typed metadata and leave the text.

Wraps :func:`ingest_plugins.header.parse_document` as a per-document stage.
Header formats are tried in this order, first match wins: ``patterns`` from
``config.toml``, then plugins implementing the ``ingest_parse_header_line``
hook, then the built-in formats. Every removed header line is recorded in the
document's history (action ``removed_lines``, rule ``header:<format>``; a line
a plugin recognised has the format ``plugin:<plugin name>``); a malformed
header line is a warning naming the file and line, never a drop. The option
``disabled_plugins`` turns a plugin's header format off for one use of the
stage, as ``disabled_rules`` does for boilerplate rules.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from ingest import Document, StageContext, StageEvent, StageKind, StageSpec, hookimpl
from ingest_plugins.header.model import HeaderOptions
from ingest_plugins.header.parse import compile_options, parse_document

HOOK = "ingest_parse_header_line"


@attrs.define
class HeaderStageOptions(HeaderOptions):
    """The ``header`` stage's options: those of :class:`HeaderOptions`,
    validated (patterns compiled) when the config is read, and the plugins
    whose header formats this use of the stage leaves out."""

    disabled_plugins: list[str] = attrs.field(
        factory=list,
        metadata={
            "help": f"plugins whose {HOOK} hook this stage does not ask, by the name `ingest plugins` "
            "shows (their lines are recorded with rule header:plugin:<name>)"
        },
    )

    def __attrs_post_init__(self) -> None:
        compile_options(self)  # raises ValueError naming the option


def _hook_parsers(ctx: StageContext, disabled: list[str]) -> tuple[Any, ...]:
    """One parser per plugin implementing the hook, in the hook's call order
    (first result wins, as for the hook), each named after its plugin so the
    format it recognised is recorded as ``plugin:<plugin name>``. Empty when
    no plugin implements it (so documents don't pay for an empty hook call).

    Raises ValueError for a name in ``disabled`` that implements no such hook.
    """
    caller = getattr(ctx.plugins.hook, HOOK) if ctx.plugins is not None else None
    impls = caller.get_hookimpls() if caller is not None else []
    plain = [impl for impl in reversed(impls) if not (impl.hookwrapper or impl.wrapper)]  # call order
    names = [impl.plugin_name for impl in plain]
    unknown = [name for name in disabled if name not in names]
    if unknown:
        raise ValueError(
            f"disabled_plugins: no plugin named {', '.join(map(repr, unknown))} implements the {HOOK} hook; "
            f"plugins that do: {', '.join(names) or '(none)'}"
        )
    parsers = []
    for impl in plain:
        if impl.plugin_name in disabled:
            continue
        # The hook limited to this plugin (and any wrappers): pluggy still
        # makes the call, so INGEST_TRACE_HOOKS shows it.
        others = [other.plugin for other in plain if other is not impl]
        hook = ctx.plugins.manager.subset_hook_caller(HOOK, others)  # type: ignore[union-attr]

        def parse_line(line: str, line_number: int, hook: Any = hook) -> Mapping[str, Any] | None:
            return hook(line=line, line_number=line_number)

        parse_line.__name__ = impl.plugin_name
        parsers.append(parse_line)
    return tuple(parsers)


def header_stage(options: HeaderStageOptions, ctx: StageContext) -> Any:
    """Build the per-document function of the ``header`` stage."""
    compiled = compile_options(options)
    plugin_parsers = _hook_parsers(ctx, options.disabled_plugins)

    def process(doc: Document) -> Document:
        mtime = None
        if options.use_mtime and doc.origin is not None and doc.origin.mtime is not None:
            mtime = datetime.datetime.fromtimestamp(doc.origin.mtime)
        result = parse_document(
            doc.text, options, plugin_parsers=plugin_parsers, mtime=mtime, compiled=compiled
        )
        for warning in result.warnings:
            ctx.warn(f"{warning.message}: {warning.raw!r}", doc=doc, line=warning.line)
        if not result.header_lines and not result.metadata:
            return doc
        formats = result.metadata.get("header_formats") or []
        rule = "header:" + "+".join(formats) if formats else "header"
        removed = [
            {"line": n, "text": raw, "rule": rule} for n, raw in zip(result.header_lines, result.header_text)
        ]
        # Metadata the source already had (a JSONL field, say) is not overwritten.
        metadata = {**result.metadata, **doc.metadata}
        events: list[StageEvent] = []
        if removed:
            events.append(StageEvent(ctx.stage_id, "removed_lines", {"lines": removed}))
        if result.sources:
            # Where each value came from; as for removed lines, numbered as the text this stage received.
            sourced = [
                {"line": v.line, "rule": v.rule, "text": v.text, "key": v.key}
                for v in result.sources
                if v.key not in doc.metadata
            ]
            if sourced:
                events.append(StageEvent(ctx.stage_id, "metadata", {"lines": sourced}))
        if type(doc) is Document:  # one new document, without attrs.evolve's per-call field walk
            return Document(doc.id, result.text, metadata, doc.origin, [*doc.history, *events])
        return attrs.evolve(doc, text=result.text, metadata=metadata, history=[*doc.history, *events])

    return process


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="header",
            kind=StageKind.HEADER,
            factory=header_stage,
            options=HeaderStageOptions,
            summary="Parse header lines (date lines, key: value, front matter) and title/outlet/dateline into typed metadata.",
            per_document=True,
        )
    ]
