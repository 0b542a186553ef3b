"""A killed ``ingest run`` leaves no process behind (issue 21, point 6), unsharded or sharded.

The run is started as a real command (``python -m ingest run``) on a generated
corpus, with two workers. A small stage loaded from a plugin file holds one
document inside a worker while a file exists, so the run is certainly in the
middle (workers busy, the dedup hashing pool or the report.html collector
started) when the test kills it; the same stage lets the document through
when the file is gone, so a rerun of the same config can resume.
"""

from __future__ import annotations

import concurrent.futures.process
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.cli import TERMINATED

ROOT = Path(__file__).resolve().parent.parent
DOCS = 3000
#: the document the gate holds: late enough that the dedup stage has started its
#: hashing pool (after 4 batches of 512) and the sink its report.html collector (after 2000 records)
HELD = "00002/00002900.txt"
#: how long the test waits for something that must happen (a hang guard, not a measurement)
DEADLINE = 120.0
#: how long the children of a killed run may take to go (the fallback check polls every 0.5 s)
GONE_WITHIN = 10.0
#: how long a process that should exit promptly may take before it counts as hung
HANG_AFTER = 30.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

GATE_PLUGIN = """
import os
import time

import attrs

from ingest import StageKind, StageSpec, hookimpl


@attrs.define
class GateOptions:
    hold_id: str = ""
    hold_while: str = ""
    reached: str = ""


def gate(options, ctx):
    def process(doc):
        if doc.id == options.hold_id and os.path.exists(options.hold_while):
            with open(options.reached, "w") as f:
                f.write(str(os.getpid()))
            while os.path.exists(options.hold_while):
                time.sleep(0.05)
        return doc

    return process


@hookimpl
def ingest_stages():
    summary = "holds a document while a file exists"
    return [StageSpec("gate", StageKind.FILTER, gate, GateOptions, summary, per_document=True)]
"""

#: where the gate sits: before dedup (the dedup hashing pool runs beside the workers),
#: or with no corpus stage (the sink's report.html collector runs beside them)
SCENARIOS = {
    "dedup-pool": ["header", "boilerplate", "gate", "dedup"],
    "report-collector": ["header", "boilerplate", "gate"],
    "shards": ["header", "boilerplate", "gate", "dedup"],
}
#: the scenarios of unsharded runs (their processes are what they test); "shards"
#: runs the same pipeline over shards (its tasks on the two workers)
UNSHARDED = {"dedup-pool", "report-collector"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, corpus_generator) -> Path:
    folder = tmp_path_factory.mktemp("kill-corpus")
    corpus_generator.generate(folder, DOCS, seed=5)
    return folder


class Setup:
    """A config with the gate, and the files the gate reads and writes."""

    def __init__(self, folder: Path, corpus: Path, stages: list[str], shards: str) -> None:
        self.folder = folder
        self.hold = folder / "hold"
        self.reached = folder / "reached"
        (folder / "gate_plugin.py").write_text(GATE_PLUGIN)
        lines = [
            '[plugins]\npaths = ["gate_plugin.py"]',
            f'[source]\npath = {json.dumps(str(corpus))}\ninclude = ["**/*.txt"]',
            '[sink]\npath = "out"',
            f"[run]\nworkers = 2\ncheckpoint_every = 1000\nshards = {json.dumps(shards)}",
        ]
        for stage in stages:
            lines.append(f'[[pipeline]]\nstage = "{stage}"')
            if stage == "gate":
                lines.append(
                    f"hold_id = {json.dumps(HELD)}\nhold_while = {json.dumps(str(self.hold))}\n"
                    f"reached = {json.dumps(str(self.reached))}"
                )
        self.config = folder / "config.toml"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest", "run", "-c", str(self.config), *args],
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "ingest", "run", "-c", str(self.config), *args],
            cwd=self.folder,
            capture_output=True,
            timeout=DEADLINE,
            check=False,
        )


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (children, their children...), pid -> start time."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            fields = _stat(child)
            if fields is not None:
                found[child] = fields[19]  # start time: tells a reused pid apart
                todo.append(child)
    return found


def alive(processes: dict[int, str]) -> list[int]:
    """Those still running (a zombie holds no files and runs no code: it counts as gone)."""
    still = []
    for pid, started in processes.items():
        fields = _stat(pid)
        if fields is not None and fields[19] == started and fields[0] not in ("Z", "X"):
            still.append(pid)
    return still


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}:\n{(out + err).decode()}")
        if time.monotonic() > end:
            pytest.fail(f"no sign of {what} after {DEADLINE} s")
        time.sleep(0.02)


def wait_gone(processes: dict[int, str]) -> list[int]:
    end = time.monotonic() + GONE_WITHIN
    while alive(processes) and time.monotonic() < end:
        time.sleep(0.05)
    return alive(processes)


_reference: dict[str, tuple[bytes, bytes]] = {}


def records(folder: Path) -> tuple[bytes, bytes]:
    """The kept and the dropped records of a finished run (one file each, or one per shard)."""
    return tuple(  # type: ignore[return-value]
        b"".join(path.read_bytes() for path in sorted(folder.glob(f"{kind}*.jsonl")))
        for kind in ("documents", "dropped")
    )


def reference_output(scenario: str, setup: Setup) -> tuple[bytes, bytes]:
    """The records of an uninterrupted run of the scenario's config."""
    if scenario not in _reference:
        assert not setup.hold.exists()
        done = setup.run("--output", str(setup.folder / "reference"))
        assert done.returncode == 0, done.stderr.decode()
        _reference[scenario] = records(setup.folder / "reference")
    return _reference[scenario]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_leaves_no_process_and_resumes(tmp_path, corpus, scenario, signum):
    setup = Setup(tmp_path, corpus, SCENARIOS[scenario], "off" if scenario in UNSHARDED else "on")
    expected = reference_output(scenario, setup)
    setup.hold.write_text("")
    proc = setup.start()
    seen: dict[int, str] = {}
    try:

        def mid_run() -> bool:
            if not setup.reached.exists():
                return False
            seen.update(descendants(proc.pid))
            children = [cmdline(pid) for pid in alive(seen)]
            if scenario == "dedup-pool":  # two workers and the hashing pool's process, all forked
                return len(children) >= 3
            if scenario == "shards":  # the two workers running the shards' tasks
                return len(children) >= 2
            return len(children) >= 3 and any("ingest.report.report_feed" in c for c in children)

        wait_for(mid_run, proc, f"two workers and the {scenario} process")
        seen.update(descendants(proc.pid))
        os.kill(proc.pid, signum)
        proc.wait(timeout=DEADLINE)
        assert wait_gone(seen) == [], [cmdline(pid) for pid in alive(seen)]
        try:  # the run's output pipes close: no process keeps them open (a calling script does not hang)
            _, err = proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail("a process outlived the run and holds its output pipes open")
    finally:
        setup.hold.unlink(missing_ok=True)  # a held worker that survived lets go
        for pid in alive(seen):  # and nothing outlives a failed test
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert b"Traceback" not in err, err.decode()  # the workers went quietly too
    if signum == signal.SIGTERM:  # handled like Ctrl-C
        assert proc.returncode == TERMINATED, err.decode()
        assert b"ingest: terminated" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    # nothing looks complete; the next run resumes (or starts over) and gives the uninterrupted output
    assert not list((tmp_path / "out").glob("documents*.jsonl"))
    assert not (tmp_path / "out" / "report.json").exists()
    again = setup.run()
    assert again.returncode == 0, again.stderr.decode()
    assert records(tmp_path / "out") == expected
    if scenario == "shards":  # both shards had finished phase 0 (the gate is in phase 1): taken as they were
        assert b"resuming" in again.stderr and b"shard phases" in again.stderr, again.stderr.decode()
    if signum == signal.SIGTERM and scenario == "report-collector":
        # past two checkpoints (every 1000 inputs) when it was stopped: the rerun picks up from there
        assert b"resum" in again.stderr, again.stderr.decode()


CHILD_OF_DEAD_PARENT = textwrap.dedent(
    """
    import os, sys, time
    from ingest.engine import lifeline

    if {no_kernel}:
        lifeline._kernel_watch = lambda: False  # as where prctl does not exist
    parent = os.getpid()
    if os.fork() == 0:  # the child: binds, tells its pid, then would wait for good
        lifeline.bind_to_parent(parent)
        print(os.getpid(), flush=True)
        time.sleep(3600)
        os._exit(0)
    sys.stdin.read()  # the parent waits until the test closes its input, then dies
    os._exit(0)
    """
)


@pytest.mark.parametrize("no_kernel", [False, True], ids=["prctl", "polling"])
def test_a_bound_child_ends_with_its_parent(no_kernel):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_DEAD_PARENT.format(no_kernel=no_kernel)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    child = int(proc.stdout.readline())
    started = {child: _stat(child)[19]}  # type: ignore[index]
    try:
        assert alive(started) == [child]
        proc.stdin.close()  # the parent exits
        proc.wait(timeout=DEADLINE)
        assert wait_gone(started) == []
        assert proc.stdout.read() == b""  # the child's copy of the pipe is closed too
    finally:
        for pid in alive(started):
            os.kill(pid, signal.SIGKILL)


def test_a_child_whose_parent_already_died_exits_at_once():
    """The gap between the fork and the kernel's watch: the parent pid handed over is not the parent."""
    code = "from ingest.engine.lifeline import bind_to_parent; bind_to_parent(1); print('still here')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=DEADLINE, check=False)
    assert done.stdout == b""
    assert done.returncode != 0


def test_the_cli_restores_the_sigterm_handler(tmp_path, ingest_cli):
    before = signal.getsignal(signal.SIGTERM)
    (tmp_path / "config.toml").write_text("")
    assert ingest_cli("check", "-c", str(tmp_path / "config.toml")).exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is before


#: Ctrl-C (or the CLI's SIGTERM exception) raised where it is hardest to clean up
#: after: inside a pool's submit, right after it forked a process and before the
#: pool recorded it and started the thread that stops its processes
INTERRUPTED_IN_A_FORK = textwrap.dedent(
    """
    import concurrent.futures.process as pool_module

    spawn = pool_module.ProcessPoolExecutor._spawn_process

    def spawn_then_interrupt(self):
        spawn(self)
        print("forked", *self._processes, flush=True)
        raise KeyboardInterrupt

    pool_module.ProcessPoolExecutor._spawn_process = spawn_then_interrupt
    """
)

LOCAL_EXECUTOR = """
    from ingest.executors.local import LocalExecutor

    executor = LocalExecutor(2)
    try:
        executor.submit(len, "abc")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    {shutdown}
"""
POOL_OWNERS = {
    "dedup-hashing": """
        from ingest_plugins.dedup.engine import DedupEngine

        DedupEngine.inline_batches = 0  # the helper process from the first batch on
        engine = DedupEngine(workers=2)
        try:
            for i in range(5000):
                engine.add(f"d{i}", f"document number {i} " * 20)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        engine.close()
    """,
    "local-executor-cancel": LOCAL_EXECUTOR.format(shutdown="executor.shutdown(cancel=True)"),
    "local-executor-wait": LOCAL_EXECUTOR.format(shutdown="executor.shutdown()"),
}


@pytest.mark.skipif(
    not hasattr(concurrent.futures.process.ProcessPoolExecutor, "_spawn_process"),
    reason="the fault is injected into CPython's ProcessPoolExecutor._spawn_process",
)
@pytest.mark.parametrize("owner", sorted(POOL_OWNERS))
def test_a_pool_interrupted_as_it_forks_leaves_no_process_and_lets_the_exit_go(owner):
    """The exit does not wait for good on a pool process that ``shutdown`` no longer stops
    (the hang of a SIGTERM'd run with the dedup stage's hashing pool)."""
    code = INTERRUPTED_IN_A_FORK + textwrap.dedent(POOL_OWNERS[owner]) + "print('closed', flush=True)\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    out, err = exit_or_fail(proc, "the process did not exit: it waits for a pool process")
    words = out.decode().split()
    assert words[0] == "forked" and words[-2:] == ["interrupted", "closed"], (out + err).decode()
    assert proc.returncode == 0, err.decode()
    forked = [int(pid) for pid in words[1:-2]]
    assert forked and still_running(forked) == []


def exit_or_fail(proc: subprocess.Popen[bytes], hung: str) -> tuple[bytes, bytes]:
    """The output of ``proc`` (started in a session of its own) once it exits; if it
    has not within :data:`HANG_AFTER`, its whole process group is killed and the test fails."""
    try:
        return proc.communicate(timeout=HANG_AFTER)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # and the children holding its output open
        proc.communicate()
        pytest.fail(hung)


def still_running(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (the test cannot tell a reused pid apart: it reads them at once)."""
    return [pid for pid in pids if (_stat(pid) or ["X"])[0] not in ("Z", "X")]


#: a stage that starts a child process and loses track of it as Ctrl-C comes
STRAY_CHILD_PLUGIN = """
import multiprocessing
import time

from ingest import StageKind, StageSpec, hookimpl


def stray(options, ctx):
    def process(doc):
        child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(3600,))
        child.start()
        print("forked", child.pid, flush=True)
        raise KeyboardInterrupt

    return process


@hookimpl
def ingest_stages():
    return [StageSpec("stray", StageKind.FILTER, stray, None, "starts a child, then Ctrl-C", per_document=True)]
"""


def test_an_interrupted_run_ends_the_child_a_stage_lost_track_of(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Some text of a document.\n")
    (tmp_path / "stray_plugin.py").write_text(STRAY_CHILD_PLUGIN)
    (tmp_path / "config.toml").write_text(
        '[plugins]\npaths = ["stray_plugin.py"]\n[source]\npath = "docs"\n[sink]\npath = "out"\n'
        '[run]\nworkers = 1\n[[pipeline]]\nstage = "stray"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "run", "-c", "config.toml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = exit_or_fail(proc, "ingest run did not exit: it waits for the stage's child")
    assert proc.returncode == 130, err.decode()
    assert b"ingest: interrupted" in err
    words = out.decode().split()
    assert words[0] == "forked", (out + err).decode()
    assert still_running([int(words[1])]) == []
