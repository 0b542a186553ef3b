"""ingest: raw text documents in, a clean, deduplicated corpus out.

The public API for ETL jobs and plugin authors::

    from ingest import Pipeline, Document

    pipeline = Pipeline.from_toml("config.toml")
    for doc in pipeline.process(["some text", {"id": "b", "text": "more"}]):
        ...
    print(pipeline.report["kept"], pipeline.ledger.records)
"""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("ingest")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+unknown"

from ingest.context import StageContext
from ingest.document import Document, Drop, Origin, StageEvent
from ingest.errors import ConfigError, ExitCode, IngestError, RunError, UnwritableDocument
from ingest.hookspecs import hookimpl
from ingest.ledger import DropRecord, Ledger, RunWarning, StageStats
from ingest.options import path_field
from ingest.runner import Pipeline
from ingest.specs import Sink, Source, StageKind, StageSpec, StreamStage

__all__ = [
    "ConfigError",
    "Document",
    "Drop",
    "DropRecord",
    "ExitCode",
    "IngestError",
    "Ledger",
    "Origin",
    "Pipeline",
    "RunError",
    "RunWarning",
    "Sink",
    "Source",
    "StageContext",
    "StageEvent",
    "StageKind",
    "StageSpec",
    "StageStats",
    "StreamStage",
    "UnwritableDocument",
    "__version__",
    "hookimpl",
    "path_field",
]
