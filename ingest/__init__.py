"""ingest: raw text documents in, a clean, deduplicated corpus out.

The public API for ETL jobs and plugin authors::

    from ingest import Pipeline, Document

    pipeline = Pipeline.from_toml("config.toml")
    for doc in pipeline.process(["some text", {"id": "b", "text": "more"}]):
        ...
    print(pipeline.report["kept"], pipeline.ledger.records)
"""

from __future__ import annotations

from ingest.contract.context import StageContext
from ingest.contract.document import Document, Drop, Origin, StageEvent
from ingest.contract.errors import ConfigError, ExitCode, IngestError, RunError, UnwritableDocument
from ingest.contract.hookspecs import hookimpl
from ingest.contract.ledger import DropRecord, Ledger, RunWarning, StageStats
from ingest.contract.options import path_field
from ingest.contract.specs import Sink, Source, StageKind, StageSpec, StreamStage
from ingest.contract.version import __version__
from ingest.runner import Pipeline

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
