"""Header-and-metadata parser of ``ingest`` (package ``ingest_plugins.header``).

Public API::

    parse_document(text, options=None, *, plugin_parsers=(), mtime=None, compiled=None) -> HeaderResult
    compile_options(options) -> CompiledOptions     # validate once, pass as compiled=
    compile_patterns(options) -> list[CompiledPattern]
    options_from_mapping(config_table) -> HeaderOptions  # type-checked
    HeaderOptions, HeaderResult, HeaderWarning, HeaderLineParser

Modules: ``model`` (options, results; documents every option and metadata
key), ``patterns`` (header-line formats, order, key grammar), ``frontmatter``,
``extract`` (title/outlet/dateline rules), ``dates`` (relative dates),
``convert`` (value types), ``parse`` (entry point and processing order).
"""

from .model import (
    DEFAULT_KNOWN_KEYS,
    VALUE_TYPES,
    HeaderLineParser,
    HeaderOptions,
    HeaderResult,
    HeaderWarning,
    options_from_mapping,
)
from .parse import CompiledOptions, compile_options, parse_document
from .patterns import CompiledPattern, compile_patterns

__all__ = [
    "DEFAULT_KNOWN_KEYS",
    "VALUE_TYPES",
    "CompiledOptions",
    "CompiledPattern",
    "HeaderLineParser",
    "HeaderOptions",
    "HeaderResult",
    "HeaderWarning",
    "compile_options",
    "compile_patterns",
    "options_from_mapping",
    "parse_document",
]
