"""``ingest explain DOC_ID``: what happened to one document, line by line.

Reads a finished run's output folder (``documents.jsonl`` and
``dropped.jsonl`` of the ``jsonl`` sink, compressed or in shards as the
run's ``report.json`` names them) and shows the document's fate, metadata,
every stage's record (removed lines with the rule that removed them) and
the final text. Removed lines are numbered as in the document the source
read (the input file's lines), whatever earlier stages removed: see
:func:`input_line_numbers`.

What it prints comes from the documents, which may hold control characters
that a terminal acts on (an escape sequence retitles or clears it, a
carriage return overwrites a line, a bidirectional override reverses what
follows). They are printed as escapes instead (``\\x1b``, ``\\r``,
``\\u202e``; see :func:`terminal_safe`); tabs stay, and a document's own line
breaks start new lines of the listing. ``--json`` output escapes the same
characters as JSON ``\\u`` escapes, so it parses to the same values.
"""

from __future__ import annotations

import bisect
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ingest.engine.jsonutil import dumps
from ingest.report.report_html import DOCUMENTS_NAME, DROPPED_NAME, REPORT_NAME, iter_jsonl, output_files


def _escape(code: int) -> str:
    if code == 0x0A:
        return "\\n"
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: What a terminal acts on instead of showing: C0 controls, DEL, C1 controls (U+0080-U+009F: some
#: terminals take U+009B as the start of an escape sequence), the bidirectional marks, embeddings,
#: overrides and isolates, and the Unicode line and paragraph separators.
CONTROL_CHARACTERS = frozenset(
    [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F)]
    + [*range(0x2066, 0x206A), 0x2028, 0x2029]
)
_ONE_LINE = {code: _escape(code) for code in CONTROL_CHARACTERS if code != 0x09}
_LINES = {code: escape for code, escape in _ONE_LINE.items() if code != 0x0A}
# json.dumps escapes U+0000-U+001F itself
_JSON = {code: f"\\u{code:04x}" for code in CONTROL_CHARACTERS if code >= 0x20}


def terminal_safe(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every character of :data:`CONTROL_CHARACTERS` but the tab
    written as a visible escape (``\\x1b``, ``\\r``, ``\\u202e``); newlines too
    unless ``keep_newlines``. (A backslash is left as it is, so a text that
    holds ``\\x1b`` literally looks the same: the point is that no control
    reaches the terminal.)"""
    return text.translate(_LINES if keep_newlines else _ONE_LINE)


def json_text(payload: Any) -> str:
    """``payload`` as indented JSON that is safe to print: the characters
    :func:`terminal_safe` escapes are ``\\u`` escapes (the same JSON values)."""
    return dumps(payload, indent=2).translate(_JSON)


def _field(value: Any) -> str:
    """One value on one line of the listing."""
    return terminal_safe(str(value), keep_newlines=False)


class _Escaping:
    """A text stream that escapes control characters on their way to ``out`` (newlines kept:
    the listing's own); fields are escaped one by one as well, their newlines included."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(terminal_safe(text))


def _records(folder: Path, key: str) -> Iterator[dict[str, Any]]:
    """The records of the run's ``documents`` or ``dropped`` output."""
    report: dict[str, Any] = {}
    try:
        loaded = json.loads((folder / REPORT_NAME).read_text(encoding="utf-8"))
        report = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass  # no report: the sink's default file names
    default = DOCUMENTS_NAME if key == "documents" else DROPPED_NAME
    files = output_files(folder, report, key, None, default)
    if not any(path.exists() for path in files):
        # a compressed run without report.json: try the usual suffixes
        files = [folder / (default + suffix) for suffix in ("", ".gz", ".bz2", ".xz", ".zst")]
    yield from iter_jsonl(files)


def find_document(output_dir: str | Path, doc_id: str) -> tuple[str, dict[str, Any]] | None:
    """Return ``("kept" | "dropped", record)`` for ``doc_id``, or None."""
    folder = Path(output_dir)
    for status, key in (("kept", "documents"), ("dropped", "dropped")):
        for record in _records(folder, key):
            if record.get("id") == doc_id:
                return status, record
    return None


def similar_ids(output_dir: str | Path, doc_id: str, limit: int = 5) -> list[str]:
    import difflib

    folder = Path(output_dir)
    ids = [str(r.get("id")) for key in ("documents", "dropped") for r in _records(folder, key)]
    return difflib.get_close_matches(doc_id, ids, n=limit, cutoff=0.3)


def render(status: str, record: dict[str, Any], out: TextIO) -> None:
    """Write a human-readable account of one document (control characters escaped)."""
    out = _Escaping(out)  # type: ignore[assignment]
    f = _field
    out.write(f"{f(record['id'])}: {status.upper()}")
    if status == "dropped":
        out.write(f" by stage {record.get('stage')!r}, reason {record.get('reason')!r}")
        if record.get("duplicate_of"):
            out.write(f", duplicate of {record['duplicate_of']!r}")
    out.write("\n")
    if record.get("path"):
        out.write(f"  path: {f(record['path'])}\n")
    if record.get("details"):
        for key, value in record["details"].items():
            out.write(f"  {f(key)}: {f(value)}\n")
    metadata = record.get("metadata") or {}
    if metadata:
        out.write("metadata:\n")
        for key, value in metadata.items():
            out.write(f"  {f(key)}: {f(json.dumps(value, ensure_ascii=False))}\n")
    history = record.get("history") or []
    if history:
        out.write("history:\n")
    numbers = input_line_numbers(history)
    relative = False  # a line shown with the number it had in its stage's input (~N)
    for event, event_numbers in zip(history, numbers):
        details = {k: v for k, v in event.items() if k not in ("stage", "action")}
        lines = details.pop("lines", None)
        summary = ", ".join(f"{k}={v}" for k, v in details.items() if not isinstance(v, (list, dict)))
        out.write(f"  [{f(event['stage'])}] {f(event['action'])}{': ' + f(summary) if summary else ''}\n")
        for line, number in zip(lines if isinstance(lines, list) else [], event_numbers):
            if isinstance(line, dict):
                if number is None and line.get("line") is not None:
                    relative = True
                shown = f(number if number is not None else f"~{line.get('line')}" if "line" in line else "?")
                rule = f(line.get("rule", ""))
                out.write(f"    - {shown:>4} {rule:<22} {f(line.get('text', ''))}\n")
            else:
                out.write(f"    - {f(line)}\n")
        for key, value in details.items():
            if isinstance(value, list) and value:
                for item in value:
                    out.write(f"    {f(key)}: {f(item)}\n")
    if relative:
        out.write(
            "  (~N: line N of the text that stage received; an earlier stage removed lines it did not list,\n"
            "   so the input file's line is not known)\n"
        )
    text = record.get("text")
    if text is not None:
        out.write("text (kept):\n" if status == "kept" else "text (when dropped):\n")
        for line in str(text).split("\n"):  # the document's own lines: one listing line each
            out.write(f"    + {f(line)}\n")


def input_line_numbers(history: Sequence[Mapping[str, Any]]) -> list[list[int | None]]:
    """For each event of a document's history, the numbers of the lines it
    lists (its ``lines`` entries) in the document as the source read it:
    the input file's line numbers.

    Each stage numbers lines in the text it received, so after the header
    stage removed lines 1 and 2 the boilerplate stage's line 1 is the file's
    line 3; the lines that earlier stages' ``removed_lines`` events list are counted
    back in. A number is None when that is not known: the entry has none, or
    an earlier stage removed lines it did not list (the boilerplate stage
    counts removed blank lines, ``removed_blank``, without listing them; with
    ``record_lines = false`` it lists none). A stage that changes the text in
    another way (rewrites or adds lines) without saying so cannot be seen here.
    """
    removed: list[int] = []  # input lines removed by earlier stages, ascending
    known = True
    numbers: list[list[int | None]] = []
    # A stage's events all number the text it received: its own removals count
    # only for the stages after it.
    stage: Any = object()
    pending: list[int] = []
    pending_unknown = False
    for event in history:
        if event.get("stage") != stage:
            stage = event.get("stage")
            for gone_here in pending:
                bisect.insort(removed, gone_here)
            known = known and not pending_unknown
            pending, pending_unknown = [], False
        lines = event.get("lines")
        listed = lines if isinstance(lines, list) else []
        mapped: list[int | None] = []
        for line in listed:
            number = line.get("line") if isinstance(line, dict) else None
            if known and type(number) is int and number >= 1:
                for gone in removed:  # the n-th line still there: count the removed ones before it
                    if gone > number:
                        break
                    number += 1
                mapped.append(number)
            else:
                mapped.append(None)
        numbers.append(mapped)
        if event.get("action") != "removed_lines" or not known:
            continue
        if None in mapped or _unlisted(event, len(listed)):
            pending_unknown = True  # later stages' numbers cannot be traced back
        pending.extend(number for number in mapped if number is not None)
    return numbers


def _unlisted(event: Mapping[str, Any], listed: int) -> bool:
    """Whether a ``removed_lines`` event removed more lines than it lists."""
    count = event.get("removed")
    blank = event.get("removed_blank")
    total = (count if type(count) is int else listed) + (blank if type(blank) is int else 0)
    return total > listed


def _removed_lines(history: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """``{(stage, line text): rule}`` for every removed line in a history."""
    removed = {}
    for event in history:
        if event.get("action") != "removed_lines":
            continue  # a "metadata" event lists the lines values were read from, not removed lines
        for line in event.get("lines") or []:
            if isinstance(line, dict):
                removed[(event["stage"], line.get("text", ""))] = line.get("rule", "")
    return removed


def preview(config: str, record: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Re-run the per-document stages on one stored document with ``overrides``.

    Reads only that document's file (``record["path"]``), not the corpus;
    corpus-level stages (dedup) are left out because they need every
    document, unless their spec can ``replay`` what the corpus taught them
    from the document's history (the boilerplate stage's lexicon). Returns
    the new outcome and the lines whose fate changed.
    """
    import attrs

    from ingest.contract.errors import ConfigError
    from ingest.runner import Pipeline

    path = record.get("path")
    if not path or not Path(path).is_file():
        raise ConfigError(f"document {record['id']!r}: its file {path!r} is not there to re-read")
    pipeline = Pipeline.from_toml(config, overrides=overrides)
    history = record.get("history") or []
    with tempfile.TemporaryDirectory(prefix="ingest-preview-") as scratch:
        replayed: dict[str, Any] = {}  # stage id -> per-document options that replay the run's decisions
        for stage in pipeline.config.stages:
            if stage.enabled and stage.needs_corpus and stage.spec.replay is not None:
                events = [e for e in history if isinstance(e, dict) and e.get("stage") == stage.id]
                options = stage.spec.replay(stage.options, events, scratch)
                if options is not None and stage.spec.runs_per_document(options):
                    replayed[stage.id] = options
        corpus_stages = [
            s.id for s in pipeline.config.stages if s.enabled and s.needs_corpus and s.id not in replayed
        ]
        pipeline = Pipeline.from_toml(config, overrides=[*overrides, "run.workers=1"], skip=corpus_stages)
        pipeline.config = attrs.evolve(
            pipeline.config,
            stages=tuple(
                attrs.evolve(s, options=replayed[s.id]) if s.id in replayed else s
                for s in pipeline.config.stages
            ),
        )
        return _preview_with(pipeline, record, path, corpus_stages, sorted(replayed))


def _preview_with(
    pipeline: Any, record: dict[str, Any], path: str, corpus_stages: list[str], replayed: list[str]
) -> dict[str, Any]:
    """:func:`preview`'s run of ``pipeline`` over the document's file, and the comparison."""
    import attrs

    from ingest.contract.context import StageContext
    from ingest.contract.errors import ConfigError
    from ingest.contract.ledger import Ledger

    source = pipeline.config.source
    if source is None or not hasattr(source.options, "path"):
        raise ConfigError("preview needs a [source] that reads files")
    ctx = StageContext(
        stage_id="source", stage_name=source.name, plugin=None, ledger=Ledger(keep_records=False)
    )
    reader = source.spec.factory(attrs.evolve(source.options, path=path), ctx)
    docs = [attrs.evolve(doc, id=record["id"]) for doc in reader]
    if not docs:
        raise ConfigError(f"document {record['id']!r}: {path} could not be read again")
    kept = list(pipeline.process(docs))
    if kept:
        new_record: dict[str, Any] = {
            "status": "kept",
            "text": kept[0].text,
            "history": [{"stage": e.stage, "action": e.action, **e.details} for e in kept[0].history],
        }
    else:
        drop = pipeline.ledger.records[0]
        new_record = {
            "status": "dropped",
            "stage": drop.stage,
            "reason": drop.reason,
            "history": [{"stage": e.stage, "action": e.action, **e.details} for e in drop.history],
        }
    before = _removed_lines(record.get("history") or [])
    after = _removed_lines(new_record["history"])
    new_record["newly_removed"] = [
        {"stage": stage, "text": text, "rule": rule}
        for (stage, text), rule in after.items()
        if (stage, text) not in before
    ]
    new_record["newly_kept"] = [
        {"stage": stage, "text": text, "rule": rule}
        for (stage, text), rule in before.items()
        if (stage, text) not in after
    ]
    new_record["skipped_corpus_stages"] = corpus_stages
    new_record["replayed_corpus_stages"] = replayed
    return new_record


def render_preview(record: dict[str, Any], result: dict[str, Any], out: TextIO) -> None:
    """Write what the overrides would change for one document (control characters escaped)."""
    out = _Escaping(out)  # type: ignore[assignment]
    f = _field
    out.write(f"{f(record['id'])}: preview ({result['status']}")
    if result["status"] == "dropped":
        out.write(f" by {result['stage']!r}, reason {result['reason']!r}")
    out.write(")\n")
    if result.get("replayed_corpus_stages"):
        out.write(
            "  re-run with what the corpus taught them in the run: "
            f"{', '.join(result['replayed_corpus_stages'])}\n"
        )
    if result["skipped_corpus_stages"]:
        out.write(
            f"  not re-run (they need the whole corpus): {', '.join(result['skipped_corpus_stages'])}\n"
        )
    out.write(f"  newly removed lines: {len(result['newly_removed'])}\n")
    for line in result["newly_removed"]:
        out.write(f"    - [{f(line['stage'])}] {f(line['rule']):<20} {f(line['text'])}\n")
    out.write(f"  newly kept lines: {len(result['newly_kept'])}\n")
    for line in result["newly_kept"]:
        out.write(f"    + [{f(line['stage'])}] (was {f(line['rule'])}) {f(line['text'])}\n")
