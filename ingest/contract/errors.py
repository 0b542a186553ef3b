"""Exceptions and the CLI's exit codes."""

from __future__ import annotations

import enum
import traceback


class ExitCode(enum.IntEnum):
    """What ``ingest`` returns to the shell.

    * ``OK`` (0): the run finished (documents dropped or failed inside a
      stage are recorded in the ledger; they do not fail the run).
    * ``RUN_FAILED`` (1): the run started but could not finish (a source or
      sink failed, a corpus-level stage crashed, a stage failed on more of
      its input than ``[run] max_error_rate`` allows). No output looks complete.
    * ``USAGE_ERROR`` (2): bad command line or bad config; no work was done.
    * ``INTERRUPTED`` (130): stopped by Ctrl-C.
    * ``BROKEN_PIPE`` (141): standard output was closed before everything was
      printed (``ingest ... | head -1``); nothing else went wrong (a run had
      finished and written its output). 128 + SIGPIPE, as the shell reports
      a tool that signal ended.
    * ``TERMINATED`` (143): stopped by SIGTERM, handled like Ctrl-C (the
      checkpoint is kept, or the output removed; the workers are stopped).
    """

    OK = 0
    RUN_FAILED = 1
    USAGE_ERROR = 2
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    TERMINATED = 143


class IngestError(Exception):
    """Base class of the errors ``ingest`` raises on purpose."""


class ConfigError(IngestError):
    """The config (or a plugin it names) is wrong; raised before any work.

    The message names the file, the table and key (or line), and what is
    allowed.
    """


class PluginLoadError(IngestError):
    """A plugin named explicitly in the config could not be loaded."""


class RunError(IngestError):
    """The run could not go on (a source or sink failed)."""


class UnwritableDocument(IngestError):
    """A sink cannot encode this one document (a lone surrogate in its text,
    an integer too long for JSON, a value nested too deep). Sinks raise it
    from ``write``, ``prepare`` or ``write_prepared`` before writing anything
    of the document; the runner then records the document as dropped by the
    sink (reason ``unwritable``, with this message) and the run goes on."""


class RecordingFailed(RunError):
    """A drop could not be recorded: a ledger listener (the sink writing
    ``dropped.jsonl``, a plugin's ``ingest_document_dropped``) raised. The run
    stops rather than lose the record; no stage catches this."""


class OutputLocked(RunError):
    """Another run is writing to the same output folder (see
    :mod:`ingest.engine.output_lock`)."""


#: How many of the innermost traceback frames a drop record keeps.
TRACEBACK_FRAMES = 3


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, as recorded in the ledger."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def error_frames(exc: BaseException, limit: int = TRACEBACK_FRAMES) -> list[str]:
    """The innermost ``limit`` frames of ``exc``'s traceback as
    ``"path/to/file.py:12 in function"``, innermost last. The first frame,
    the code that caught the exception (the runner's), is left out."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames[-limit:]]
