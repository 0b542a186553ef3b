"""The ``ingest`` command line.

::

    ingest run -c config.toml [--input PATH] [--output DIR] [--workers N] [--executor local|ray]
               [--ray-address ADDR] [--restart] [--set KEY=VALUE ...] [--skip ID ...]
    ingest check -c config.toml [--set ...] [--skip ...]
    ingest plugins [--json] [--hooks]
    ingest explain DOC_ID [-c config.toml | --output DIR] [--json]
    ingest --version

Exit codes are :class:`~ingest.contract.errors.ExitCode`: 0 success, 1 the run
failed, 2 bad usage or config, 130 interrupted (Ctrl-C), 141 standard output
closed early (``| head``), 143 terminated (SIGTERM, handled like Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

from ingest.contract.errors import ConfigError, ExitCode, IngestError
from ingest.contract.ledger import SOURCE_STAGE, Ledger
from ingest.contract.version import __version__
from ingest.engine import gc_tuning
from ingest.engine.jsonutil import dumps
from ingest.engine.lifeline import end_children
from ingest.host.config import Override, read_toml
from ingest.host.plugin_manager import PluginHost
from ingest.runner import Pipeline


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="config.toml", help="config file (default: config.toml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an option: STAGE_ID.OPTION=VALUE, source.OPTION=..., sink.OPTION=..., run.OPTION=...; "
        "source.type=TYPE / sink.type=TYPE switch the type (options it does not have are left out)",
    )
    parser.add_argument(
        "--skip", action="append", default=[], metavar="STAGE_ID", help="do not run this stage"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ingest", description="Turn raw text documents into a clean, deduplicated corpus.")
    parser.add_argument("--version", action="version", version=f"ingest {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="run the pipeline")
    _add_config_args(run)
    run.add_argument("--input", help="read documents from this path instead of [source] path")
    run.add_argument("--output", help="write results into this folder instead of [sink] path")
    run.add_argument(
        "--workers", type=int, help="worker processes for per-document stages (0 = one per core)"
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        help="run on this machine's processes or as Ray tasks ([run] executor)",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster to connect to (auto, ray://host:10001); default: a local Ray instance ([run] ray_address)",
    )
    run.add_argument(
        "--restart",
        action="store_true",
        help="discard the checkpoint of an interrupted run in the output folder and start over",
    )

    check = commands.add_parser("check", help="validate the config and plugins; do no work")
    _add_config_args(check)

    explain = commands.add_parser("explain", help="show what a run did to one document, line by line")
    explain.add_argument("doc_id", help="the document id (e.g. 000_0641a12947d22cdf.txt)")
    explain.add_argument(
        "-c", "--config", default="config.toml", help="config whose [sink] path holds the run"
    )
    explain.add_argument("--output", help="the run's output folder (default: the config's [sink] path)")
    explain.add_argument("--json", action="store_true", help="print the stored record as JSON")
    explain.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="preview: re-run the per-document stages on this one document with these options and show what changes",
    )

    plugins = commands.add_parser("plugins", help="list plugins, their stages and options")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.add_argument(
        "--hooks", action="store_true", help="show which plugins implement each hook, in call order"
    )
    plugins.add_argument("-c", "--config", default=None, help="also load the plugins this config names")
    return parser


class _Progress:
    """One line on stderr, redrawn at most a few times a second: the counts,
    or what a long stage is doing (``dedup: hashing documents: 20000``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0
        self.width = 0  # of the line drawn last, so a shorter one covers it
        self.phase: tuple[str, str] | None = None

    def __call__(self, ledger: Ledger) -> None:
        now = time.monotonic()
        if now - self.last < 0.25:
            return
        self.last = now
        self.phase = None
        self._draw(f"{ledger.input_count} read, {ledger.kept_count} kept, {ledger.dropped_count} dropped")

    def stage(self, stage_id: str, phase: str, done: int | None, total: int | None) -> None:
        """A stage's progress (see :meth:`ingest.StageContext.progress`): a new
        phase is drawn at once, the counts of one at most every quarter second."""
        now = time.monotonic()
        if (stage_id, phase) == self.phase and now - self.last < 0.25:
            return
        self.last, self.phase = now, (stage_id, phase)
        count = "" if done is None else f": {done}" + ("" if total is None else f" of {total}")
        self._draw(f"{stage_id}: {phase}{count}")

    def _draw(self, text: str) -> None:
        self.stream.write(f"\r{text}{' ' * max(0, self.width - len(text))}")
        self.width = len(text)
        self.stream.flush()

    def done(self) -> None:
        if self.phase is not None:  # a stage's last phase is over: clear it rather than leave it
            self.stream.write(f"\r{' ' * self.width}\r")
        elif self.last:
            self.stream.write("\n")
        self.stream.flush()


def _print_summary(pipeline: Pipeline, report: dict[str, Any], out: TextIO) -> None:
    out.write(f"input {report['input']}, kept {report['kept']}, dropped {report['dropped']}")
    out.write(f", warnings {report['warnings']} in {report['seconds']:.2f}s\n")
    for stage_id, stats in report["stages"].items():
        dropped = ", ".join(f"{reason} {n}" for reason, n in stats["dropped"].items()) or "none dropped"
        n_in = stats["documents_in"]
        if stage_id == "source":  # the source's input is what it read: documents out plus unreadable ones
            n_in = stats["documents_out"] + stats["dropped_total"]
        out.write(f"  {stage_id:<14} in {n_in:>7}  out {stats['documents_out']:>7}  {dropped}\n")
    for warning in report.get("warning_samples", [])[:10]:
        out.write(f"  warning: {warning}\n")
    outputs = pipeline.config.sink.options if pipeline.config.sink else None
    if outputs is not None and hasattr(outputs, "path"):
        out.write(f"output: {outputs.path}\n")


def _say(text: str) -> None:
    print(f"ingest: {text}", file=sys.stderr)


def _run_overrides(args: argparse.Namespace) -> list[str | Override]:
    """The command line's overrides, after ``ingest run``'s own default: drop records
    are not kept in memory (the sink writes every one; ``Pipeline.ledger`` keeps
    the counts), unless the config says."""
    overrides: list[str | Override] = list(args.overrides)
    raw_run = read_toml(args.config).get("run", {}) if os.path.exists(args.config) else {}
    if isinstance(raw_run, dict) and "keep_drop_records" not in raw_run:
        overrides.insert(0, "run.keep_drop_records=false")
    return overrides


def _cmd_run(args: argparse.Namespace) -> int:
    overrides = _run_overrides(args)
    # the options that set a [run] key: an error in the value names the option
    for flag, option in (
        ("--workers", "workers"),
        ("--executor", "executor"),
        ("--ray-address", "ray_address"),
    ):
        value = getattr(args, option)
        if value is not None:
            overrides.append(Override(f"{flag} {shlex.quote(str(value))}", "run", option, value))
    pipeline = Pipeline.from_toml(
        args.config, overrides=overrides, input=args.input, output=args.output, skip=args.skip
    )
    for note in pipeline.config.notes:
        _say(f"note: {note}")
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        with gc_tuning.tuned():  # documents churn through this process too (one worker, the report)
            report = pipeline.run(
                progress=progress,
                restart=args.restart,
                on_message=_say,
                stage_progress=progress.stage if progress is not None else None,
            )
    finally:
        if progress is not None:
            progress.done()
    if report["input"] == 0:
        # nothing read: say why on stderr too, where a script's user looks (the summary says it on stdout)
        said = [w.message for w in pipeline.ledger.warnings if w.stage == SOURCE_STAGE]
        source = pipeline.config.source.name if pipeline.config.source else "source"
        for message in said or [f"the source ({source}) gave no documents; nothing to do"]:
            _say(f"warning: {message}")
    _print_summary(pipeline, report, sys.stdout)
    from ingest.engine.document_stage import error_summaries

    for line in error_summaries(report):  # a stage that raised: say so, not only in the ledger
        _say(f"warning: {line}")
    return ExitCode.OK


def _cmd_check(args: argparse.Namespace) -> int:
    # as `ingest run` would read it, so what it says of sharding holds for the run
    pipeline = Pipeline.from_toml(args.config, overrides=_run_overrides(args), skip=args.skip)
    warnings = pipeline.check()
    cfg = pipeline.config
    print(f"{args.config}: OK")
    if cfg.source:
        print(f"  source  {cfg.source.name}: {getattr(cfg.source.options, 'path', '')}")
    for stage in cfg.stages:
        flags = []
        if not stage.enabled:
            flags.append("disabled")
        if stage.needs_corpus:
            flags.append("reads the whole corpus first (spooled to disk)")
        note = f"  ({'; '.join(flags)})" if flags else ""
        print(f"  stage   {stage.id} = {stage.name} [{stage.registered.plugin.name}]{note}")
    if cfg.sink:
        print(f"  sink    {cfg.sink.name}: {getattr(cfg.sink.options, 'path', '')}")
    if cfg.run.executor == "ray":
        print(f"  run     on Ray: {cfg.run.ray_address or 'a local Ray instance'}")
    if cfg.source and cfg.sink:
        print(f"  run     {pipeline.sharding()}")
    for off in pipeline.plugins.disabled:
        print(f"  plugin  {off.name} not loaded: disabled by {off.by}")
    for failure in pipeline.plugins.failures:
        print(f"  warning: plugin {failure.name} ({failure.distribution}) failed to load: {failure.error}")
    for warning in pipeline.plugins.warnings:
        print(f"  warning: {warning}")
    for note in cfg.notes:
        print(f"  note: {note}")
    for warning in warnings:
        print(f"  warning: {warning}")
    return ExitCode.OK


def _cmd_plugins(args: argparse.Namespace) -> int:
    if args.config:
        # only the config's [plugins]: the listing works even when its stages do not resolve
        from pathlib import Path

        from ingest.host.config import plugin_host

        path = str(args.config)
        host = plugin_host(read_toml(path), path=path, base_dir=str(Path(path).resolve().parent))
    else:
        host = PluginHost()
    described = host.describe()
    if args.json:
        payload: dict[str, Any] = {"plugins": described}
        if args.hooks:
            payload["hooks"] = host.hook_implementations()
        print(dumps(payload, indent=2))
        return ExitCode.OK
    for plugin in described:
        version = f" {plugin['version']}" if plugin.get("version") else ""
        dist = f" from {plugin['distribution']}" if plugin.get("distribution") else ""
        print(f"{plugin['name']}{version} ({plugin['origin']}{dist})")
        if plugin.get("error"):
            print(f"  FAILED TO LOAD: {plugin['error']}")
        if plugin.get("disabled"):
            print(f"  disabled by {plugin['disabled']}: not loaded")
        for stage in plugin["stages"]:
            print(f"  {stage['kind']:<11} {stage['name']}: {stage['summary']}")
            for problem in stage.get("problems", []):
                print(f"      PROBLEM: {problem}")
            for option in stage["options"]:
                default = json.dumps(option["default"], default=str)
                print(f"      {option['name']} = {default}  ({option['type']})  {option['help']}")
    if args.hooks:
        print("hooks (in call order):")
        for hook, impls in host.hook_implementations().items():
            print(f"  {hook}: {', '.join(impls) or '-'}")
    return ExitCode.OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from ingest.report import explain

    output = args.output
    if output is None:
        pipeline = Pipeline.from_toml(args.config)
        output = getattr(pipeline.config.sink.options, "path", None) if pipeline.config.sink else None
        if output is None:
            raise ConfigError(f"{args.config}: [sink] has no path; give --output")
    found = explain.find_document(output, args.doc_id)
    if found is None:
        close = [
            explain.terminal_safe(i, keep_newlines=False) for i in explain.similar_ids(output, args.doc_id)
        ]
        hint = f"; similar ids: {', '.join(close)}" if close else ""
        print(f"ingest: no document {args.doc_id!r} in {output}{hint}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    status, record = found
    if args.overrides:
        preview = explain.preview(args.config, record, args.overrides)
        if args.json:  # control characters escaped, here and below: the text is the document's
            print(explain.json_text({"status": status, **record, "preview": preview}))
        else:
            explain.render_preview(record, preview, sys.stdout)
        return ExitCode.OK
    if args.json:
        print(explain.json_text({"status": status, **record}))
    else:
        explain.render(status, record, sys.stdout)
    return ExitCode.OK


#: exit code after SIGTERM (the shell's 128 + signal number, as if the signal had ended the process)
TERMINATED = ExitCode.TERMINATED  # 128 + SIGTERM, as a shell reports it


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so that a run stops the
    same way (checkpoint suspended or output removed, workers stopped)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    # once: a repeated SIGTERM must not interrupt the cleanup the first one started
    signal.signal(signal.SIGTERM, lambda *_: None)
    raise _Terminated


def _discard_stdout() -> None:
    """Point stdout at the null device, so that what is still buffered for a
    closed pipe cannot raise again when Python flushes it at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (captured output): nothing will flush to the pipe
        pass


COMMANDS = {"run": _cmd_run, "check": _cmd_check, "plugins": _cmd_plugins, "explain": _cmd_explain}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit: a reader that went away is caught below
        return code
    except BrokenPipeError:
        # `ingest ... | head -1`: the reader has what it wanted; stop quietly, as
        # command-line tools do (the shell reports 141, as for a tool SIGPIPE ended)
        _discard_stdout()
        return ExitCode.BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(exc, file=sys.stderr)
        return ExitCode.USAGE_ERROR
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE_ERROR
    # signal handlers can only be set from the main thread (main() may be called from another)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main_thread else None
    children = multiprocessing.active_children()  # the caller's, when main() is called in-process
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"ingest: config error: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    except IngestError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return ExitCode.RUN_FAILED
    except _Terminated:
        end_children(spare=children)  # no child a stage lost track of keeps the exit waiting
        print("ingest: terminated", file=sys.stderr)
        return TERMINATED
    except KeyboardInterrupt:
        end_children(spare=children)  # no child a stage lost track of keeps the exit waiting
        print("ingest: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    finally:
        if on_main_thread:  # None: the handler was not set from Python
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
