"""The ``header`` stage: header lines become typed metadata and leave the text.

Wraps :func:`ingest_plugins.header.parse_document` as a per-document stage.
Header formats are tried in this order, first match wins: ``patterns`` from
``config.toml``, then plugins implementing the ``ingest_parse_header_line``
hook, then the built-in formats. Every removed header line is recorded in the
document's history (action ``removed_lines``, rule ``header:<format>``); a
malformed header line is a warning naming the file and line, never a drop.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from ingest import Document, StageContext, StageKind, StageSpec, hookimpl
from ingest_plugins.header.model import HeaderOptions
from ingest_plugins.header.parse import compile_options, parse_document


@attrs.define
class HeaderStageOptions(HeaderOptions):
    """The ``header`` stage's options: those of :class:`HeaderOptions`,
    validated (patterns compiled) when the config is read."""

    def __attrs_post_init__(self) -> None:
        compile_options(self)  # raises ValueError naming the option


def _hook_parser(ctx: StageContext) -> Any:
    """The ``ingest_parse_header_line`` hook as a parser, or None when no
    plugin implements it (so documents don't pay for an empty hook call)."""
    if ctx.plugins is None or not ctx.plugins.hook.ingest_parse_header_line.get_hookimpls():
        return None
    hook = ctx.plugins.hook.ingest_parse_header_line

    def parse_line(line: str, line_number: int) -> Mapping[str, Any] | None:
        return hook(line=line, line_number=line_number)

    parse_line.__name__ = "hook"
    return parse_line


def header_stage(options: HeaderStageOptions, ctx: StageContext) -> Any:
    """Build the per-document function of the ``header`` stage."""
    compiled = compile_options(options)
    hook_parser = _hook_parser(ctx)
    plugin_parsers = (hook_parser,) if hook_parser else ()

    def process(doc: Document) -> Document:
        mtime = None
        if options.use_mtime and doc.origin is not None and doc.origin.mtime is not None:
            mtime = datetime.datetime.fromtimestamp(doc.origin.mtime)
        result = parse_document(doc.text, options, plugin_parsers=plugin_parsers, mtime=mtime, compiled=compiled)
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
        evolved = attrs.evolve(doc, text=result.text, metadata=metadata)
        if removed:
            evolved = evolved.with_event(ctx.stage_id, "removed_lines", lines=removed)
        return evolved

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
