"""Built-in sink ``jsonl``: the run's output folder.

Writes three files into ``path``:

* ``documents.jsonl``: one object per kept document: ``id``, ``text``,
  ``metadata``, ``path`` and (``include_history``) ``history``, the record of
  what each stage did, removed lines and their rules included;
* ``dropped.jsonl``: one object per dropped document: ``id``, ``stage``,
  ``reason``, ``duplicate_of`` for duplicates, ``details``, ``plugin``,
  ``path`` and (``include_dropped_text``) ``text``;
* ``report.json``: the run report (counts per stage and reason, timings).

Each file is written under a hidden ``.*.partial`` name and renamed into
place only when the run completes, report last, so a crash never leaves a
file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

import attrs

from ingest import Document, DropRecord, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.atomic import commit, temp_path_for
from ingest.jsonutil import document_record, drop_record, dumps


@attrs.define
class JsonlSinkOptions:
    """Options of the ``jsonl`` sink."""

    path: str = path_field("out", metadata={"help": "output folder (created if missing)"})
    documents: str = attrs.field(default="documents.jsonl", metadata={"help": "file name for kept documents"})
    dropped: str = attrs.field(default="dropped.jsonl", metadata={"help": "file name for dropped documents"})
    report: str = attrs.field(default="report.json", metadata={"help": "file name for the run report"})
    include_history: bool = attrs.field(default=True, metadata={"help": "write each document's stage history"})
    include_dropped_text: bool = attrs.field(default=True, metadata={"help": "write the text of dropped documents"})


class JsonlSink:
    """Writes kept and dropped documents as JSON lines, atomically."""

    def __init__(self, options: JsonlSinkOptions, ctx: StageContext) -> None:
        self.options = options
        self.folder = Path(options.path)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.targets = {
            "documents": self.folder / options.documents,
            "dropped": self.folder / options.dropped,
            "report": self.folder / options.report,
        }
        # A report left by an earlier run would vouch for files this run is
        # about to replace: remove it now, write the new one last.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.targets["report"])
        self.temps = {key: temp_path_for(target) for key, target in self.targets.items()}
        self.files: dict[str, IO[str]] = {
            key: open(self.temps[key], "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close/abort
            for key in ("documents", "dropped")
        }

    def write(self, doc: Document) -> None:
        self.files["documents"].write(dumps(document_record(doc, history=self.options.include_history)) + "\n")

    def write_dropped(self, record: DropRecord) -> None:
        self.files["dropped"].write(dumps(drop_record(record, text=self.options.include_dropped_text, history=self.options.include_history)) + "\n")

    def close(self, report: dict[str, Any]) -> None:
        for fh in self.files.values():
            fh.close()
        with open(self.temps["report"], "w", encoding="utf-8") as fh:
            fh.write(dumps({**report, "outputs": {k: str(v) for k, v in self.targets.items()}}, indent=2) + "\n")
        # The report goes last: its presence says the others are complete.
        for key in ("documents", "dropped", "report"):
            commit(self.temps[key], self.targets[key])

    def abort(self) -> None:
        for fh in self.files.values():
            fh.close()
        for tmp in self.temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="jsonl",
            kind=StageKind.SINK,
            factory=JsonlSink,
            options=JsonlSinkOptions,
            summary="Write documents.jsonl, dropped.jsonl and report.json into a folder, atomically.",
        )
    ]
