"""Scale benchmark: ingest against its peers on one generated corpus, in one run.

Usage::

    python benchmarks/generate_corpus.py --out /tmp/corpus-100k --docs 100000
    python benchmarks/scale_bench.py --corpus /tmp/corpus-100k [--workers 1,2] [--skip datatrove ...]
        [--only read,ingest] [--peers datatrove] [--datatrove-python PY] [--slow-limit N]
        [--json results.json]

Rows (engines), each run as its own child process so its peak RSS is its own:

* ``read``: read and decode every file (sorted, like the ``text_files``
  source): the limit every other row is measured against.
* ``ingest-wN``: ``ingest run`` of the whole pipeline (``header``,
  ``boilerplate``, ``dedup``, ``jsonl`` export) with ``--workers N``, for each
  N in ``--workers``.
* ``ingest-perdoc-wN``: ``ingest run`` of the per-document stages only
  (``header``, ``boilerplate``, export), to see how they scale with workers.
  These rows run in ``--perdoc-rounds`` interleaved rounds (w1, w2, w1, w2,
  ...) and each shows its median round: on a shared VM one pair run one
  after the other is easily 20% off.
* ``ingest-dedup-wN``: ``ingest run`` with the ``dedup`` stage alone, on the raw
  files (reading and export included), ``--workers N``: the row to set beside
  datatrove's, which does nothing else.
* ``datasketch``: MinHashLSH on the raw text: lower-cased ``\\w+`` tokens,
  5-word shingles, 128 permutations, threshold 0.8, greedy in id order (query,
  then insert; a document with a hit is a duplicate of the smallest hit id).
* ``justext+datasketch``: jusText (each line a ``<p>``, English stop list,
  default settings) on every document, then the same datasketch pass over
  what jusText kept (a document where jusText keeps nothing is nobody's
  duplicate; their number is printed).
* ``datatrove-wN``: datatrove's four MinHash stages (signatures, buckets,
  clusters, filter: default ``MinhashConfig``: 5-grams, 14 buckets x 8
  hashes) with ``LocalPipelineExecutor(tasks=N, workers=N)`` for each N in
  ``--workers`` (buckets: 14 tasks on N workers; clusters: 1 task), reading
  the same files with a small custom reader and writing kept and removed
  documents as JSON lines: ``datatrove_peer.py``, run by
  ``--datatrove-python`` (default: this interpreter), so datatrove may live in
  a virtualenv of its own. Word tokenizer: see ``--datatrove-tokenizer``.
  Its ``x datatrove`` column sets each row against the datatrove row with the
  same worker count.

``--peers`` picks the peer engines (default all of ``datasketch``,
``justext+datasketch``, ``datatrove``; ``none`` for ingest's rows alone). A
peer that cannot run here (not installed) is skipped with a message naming
what is missing; ingest's rows are printed all the same.

Every time is the wall time of the child process, start-up, reading the files
and writing output included (the ``read`` row is the floor for all). Before
the first row the parent reads every file once, so that no row pays for a
cold page cache, and compiles ingest's modules to bytecode, as ``pip install``
does for the peers' packages, so that no row compiles them at start-up (a
checkout installed in editable mode with ``PYTHONDONTWRITEBYTECODE`` set would
otherwise compile ~90 modules in every run, ~0.15 s; ``--no-warmup`` skips
both). Peak RSS
is the sum of the RSS of the child's process tree, polled every 50 ms
(``peak tree``; forked workers share pages, so this over-counts), the
largest single process's peak (``max proc``: each process's VmHWM, the
kernel's own high-water mark, polled the same way) and the sum of the
processes' peaks (``sum of proc peaks``; the list per process is in the
JSON and in the per-stage table, the child first).

CPU per document: ``coordinator`` is the CPU (user + system, all threads) of
the child process itself, i.e. ``ingest run`` with its start-up, reading,
merging, corpus stages, sink and report; ``workers`` is that of its worker
processes and ``other children`` that of its other child processes (the
report.html builder); for rows other than ingest's every child process is a
worker. The child's own and its children's CPU are read from
``/proc/<pid>/stat`` once it has exited and before it is reaped, so they are
final (clock ticks: 10 ms); ingest's workers are ``report.json``'s
``workers_seconds``, the rest of the children's CPU is the other children's.
For the ingest rows a second
table gives each stage's seconds per document from ``report.json`` (summed
over the workers: per-core cost) and the run's own ``cpu`` split from
``report.json`` (start of the run to its report: no start-up, no output
close).

``CPU pressure``: the share of a row's wall time in which some task on the
machine waited for a core (``/proc/pressure/cpu``): the row's own processes
when they outnumber the cores, or other programs'; a high figure on a shared
machine means every time in that row is inflated.

``--corpus`` may also be any folder of ``.txt`` files without
``clusters.jsonl`` (then nothing is scored); a folder holding ``input/``, like
the dev pages (``corpus/dev/boilerplate``), means its ``input/``.
``--repeat N`` runs such a corpus N times over (copies in ``--scratch``), for
a run long enough to measure; the copies are exact duplicates, so the dedup
stage drops all but one of each.

Duplicate quality, from ``clusters.jsonl``: predicted clusters are the
``duplicate_of`` chains (datatrove: its cluster ids); pairwise precision and
recall over all pairs of documents in one cluster, hard negatives merged with
the story they imitate, and kept vs expected (one per gold cluster).

``--slow-limit N`` runs ``datasketch`` / ``justext+datasketch`` on the first N
documents only (their docs/s is then over N documents, their P/R over those N).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import score

ROOT = Path(__file__).resolve().parent.parent
PEERS = ("datasketch", "justext+datasketch", "datatrove")
# rows set against every other row in a column of their own (datatrove's rows: by worker count)
SINGLE_PEERS = ("datasketch", "justext+datasketch")


# ---------------------------------------------------------------- corpus
def corpus_files(corpus: Path) -> list[str]:
    """Relative paths of the corpus's ``.txt`` files, sorted (the ``text_files`` order)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames.sort()
        rel = os.path.relpath(dirpath, corpus)
        for name in filenames:
            if name.endswith(".txt"):
                out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    out.sort()
    return out


def read_texts(corpus: Path, files: list[str]) -> Iterator[tuple[str, str]]:
    for rel in files:
        with open(corpus / rel, "rb") as f:
            yield rel, f.read().decode("utf-8")


def load_labels(corpus: Path) -> dict[str, dict[str, Any]]:
    labels = {}
    with open(corpus / "clusters.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                labels[rec["id"]] = rec
    return labels


# ---------------------------------------------------------------- engines (in the child)
def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class _Datasketch:
    """Greedy MinHashLSH dedup: 5-word shingles, 128 permutations, threshold 0.8."""

    def __init__(self) -> None:
        from datasketch import MinHash, MinHashLSH

        self.MinHash = MinHash
        proto = MinHash(num_perm=128, seed=1)
        self.perms, self.scheme = proto.permutations, getattr(proto, "scheme", None)
        self.lsh = MinHashLSH(threshold=0.8, num_perm=128)
        self.dup_of: dict[str, str | None] = {}
        self.empty = 0

    def add(self, doc_id: str, text: str) -> None:
        toks = _tokens(text)
        if not toks:  # nothing left (jusText kept no paragraph): not anyone's duplicate
            self.dup_of[doc_id] = None
            self.empty += 1
            return
        k = 5
        shingles = {" ".join(toks[i : i + k]) for i in range(max(1, len(toks) - k + 1))}
        kw = {"permutations": self.perms}
        if self.scheme is not None:
            kw["scheme"] = self.scheme
        m = self.MinHash(num_perm=128, **kw)
        m.update_batch([s.encode("utf-8") for s in shingles])
        hits = self.lsh.query(m)
        self.dup_of[doc_id] = min(hits) if hits else None
        self.lsh.insert(doc_id, m)


def _justext_fn() -> Any:
    import html

    import justext

    stoplist = justext.get_stoplist("English")

    def run(text: str) -> str:
        body = "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip())
        if not body:
            return ""
        page = f"<html><head><title></title></head><body>{body}</body></html>".encode()
        try:
            paras = justext.justext(page, stoplist)
        except Exception:  # noqa: BLE001 - jusText rejects some pages; keep nothing
            return ""
        return "\n".join(p.text for p in paras if not p.is_boilerplate)

    return run


def engine_read(spec: dict[str, Any]) -> dict[str, Any]:
    corpus = Path(spec["corpus"])
    files = corpus_files(corpus)
    n = chars = 0
    for _, text in read_texts(corpus, files):
        n += 1
        chars += len(text)
    return {"docs": n, "chars": chars}


def engine_datasketch(spec: dict[str, Any], with_justext: bool = False) -> dict[str, Any]:
    corpus = Path(spec["corpus"])
    files = corpus_files(corpus)
    if spec.get("limit"):
        files = files[: spec["limit"]]
    ds = _Datasketch()
    clean = _justext_fn() if with_justext else None
    for doc_id, text in read_texts(corpus, files):
        ds.add(doc_id, clean(text) if clean else text)
    with open(spec["pred"], "w", encoding="utf-8") as f:
        json.dump({"dup_of": ds.dup_of}, f)
    return {"docs": len(files), "empty": ds.empty}


def child(engine: str, spec: dict[str, Any]) -> int:
    if engine == "read":
        out = engine_read(spec)
    elif engine == "datasketch":
        out = engine_datasketch(spec)
    elif engine == "justext+datasketch":
        out = engine_datasketch(spec, with_justext=True)
    else:
        raise SystemExit(f"unknown engine {engine!r}")
    print("RESULT " + json.dumps(out))
    return 0


# ---------------------------------------------------------------- measuring (in the parent)
def _tree_rss(
    pid: int,
    hwm: dict[int, int] | None = None,
    argv: dict[int, list[str]] | None = None,
    parent: dict[int, int] | None = None,
) -> tuple[int, int]:
    """Sum and max of VmRSS (bytes) over ``pid`` and its descendants; each
    process's own peak (VmHWM, bytes) goes into ``hwm``, its command line
    into ``argv`` and its parent into ``parent``, by pid."""
    total = largest = 0
    stack = [pid]
    seen = set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            if argv is not None:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    command = f.read().decode(errors="replace").split("\0")
                if command != [""] and argv.get(p) != command:  # a zombie's is empty: keep its peak
                    # new, or it ran exec: a forked copy's pages before exec are not its peak
                    argv[p] = command
                    if hwm is not None:
                        hwm[p] = 0
            with open(f"/proc/{p}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
            rss = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024  # a zombie has neither
            total += rss
            largest = max(largest, rss)
            if hwm is not None and "VmHWM" in fields:
                # the kernel's own high-water mark: no peak between two polls is missed
                hwm[p] = max(hwm.get(p, 0), int(fields["VmHWM"].split()[0]) * 1024)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(c) for c in f.read().split()]
                stack += kids
                if parent is not None:
                    parent.update(dict.fromkeys(kids, p))
        except (OSError, ValueError):
            continue
    return total, largest


def _cpu_split(pid: int) -> tuple[float, float] | None:
    """CPU seconds (user + system) of ``pid`` itself (all its threads) and of
    the child processes it waited for, from ``/proc/<pid>/stat``; read from
    the zombie, after the exit, they are final."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    except OSError:
        return None
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])  # fields 14-17 of proc(5)
    tick = os.sysconf("SC_CLK_TCK")
    return (utime + stime) / tick, (cutime + cstime) / tick


def _cpu_stall_us() -> int | None:
    """Microseconds in which some task on this machine waited for a core
    (``/proc/pressure/cpu``, ``some total``); None without PSI."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def _process_name(argv: list[str], root: list[str], parent_argv: list[str] | None = None) -> str:
    """A short name for a process of the measured tree: ``fork`` for a forked
    copy of the measured process or of its parent (a fork server's worker),
    the helper's module for a multiprocessing helper (``forkserver``,
    ``resource_tracker``: datatrove's pools), else the module it runs or its
    program."""
    if argv == root or (argv and argv == parent_argv):
        return "fork"
    if "-c" in argv[:-1]:  # multiprocessing's helpers: "from multiprocess.forkserver import main; ..."
        helper = re.search(r"from ([\w.]+) import main", argv[argv.index("-c") + 1])
        if helper:
            return helper.group(1).rsplit(".", 1)[-1]
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1].rsplit(".", 1)[-1]
    return os.path.basename(argv[0]) if argv and argv[0] else "?"


def measure(
    cmd: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None, log: Path | None = None
) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, peak tree RSS (polled), each process's peak
    RSS, the CPU of the process itself and of its child processes, output."""
    out_f = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    stall0 = _cpu_stall_us()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=out_f, text=True)
    peak = peak_proc = 0
    hwm: dict[int, int] = {}
    argv: dict[int, list[str]] = {}
    parent: dict[int, int] = {}
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak, peak_proc
        while not stop.is_set():
            total, largest = _tree_rss(proc.pid, hwm, argv, parent)
            peak, peak_proc = max(peak, total), max(peak_proc, largest)
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    stdout = proc.stdout.read() if proc.stdout else ""
    split = None
    try:
        # exited but not yet reaped: its /proc entry still holds its final CPU times
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        split = _cpu_split(proc.pid)
    except (AttributeError, ChildProcessError):  # no waitid on this platform
        pass
    # ru_* of the child and every descendant it waited for (a cross-check of the split)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    stall1 = _cpu_stall_us()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    thread.join()
    if log:
        out_f.close()
    tree_cpu = usage.ru_utime + usage.ru_stime
    # the child first, then its descendants in the order they were first seen
    pids = [p for p in hwm if p == proc.pid] + [p for p in hwm if p != proc.pid]
    peaks = [hwm[p] / 2**20 for p in pids]
    root = argv.get(proc.pid, [])
    names = [
        "run" if p == proc.pid else _process_name(argv.get(p, []), root, argv.get(parent.get(p, -1)))
        for p in pids
    ]
    return {
        "seconds": seconds,
        "peak_tree_mb": peak / 2**20,
        # VmHWM per process, polled: wait4's ru_maxrss would count this (large)
        # process, forked before exec
        "max_proc_mb": max(peaks + [peak_proc / 2**20]),
        "sum_proc_peaks_mb": sum(peaks),
        "proc_peaks_mb": [round(p, 1) for p in peaks],
        "proc_names": names,
        # in clock ticks (10 ms here): the sum is up to two ticks short of tree_cpu_s
        "coordinator_cpu_s": None if split is None else split[0],
        "children_cpu_s": None if split is None else split[1],
        "tree_cpu_s": tree_cpu,
        # share of the wall time in which some task (this row's own or another
        # program's) waited for a core: a loaded machine slows every row
        "cpu_pressure": None if stall0 is None or stall1 is None else (stall1 - stall0) / 1e6 / seconds,
        "returncode": proc.returncode,
        "stdout": stdout,
    }


def compile_ingest() -> list[str]:
    """Write the bytecode of ingest's packages where Python looks for it (what pip
    does when it installs a package, and Python itself on first import unless told not
    to): the folders compiled."""
    done = []
    for package in ("ingest", "ingest_plugins"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            if compileall.compile_dir(folder, quiet=1):
                done.append(folder)
    return done


def ingest_config(corpus: Path, out: Path, stages: list[str], workers: int, workdir: Path) -> str:
    lines = [
        "[source]",
        'type = "text_files"',
        f"path = {json.dumps(str(corpus))}",
        'include = ["**/*.txt"]',
        "",
        "[sink]",
        'type = "jsonl"',
        f"path = {json.dumps(str(out))}",
        "",
        "[run]",
        f"workers = {workers}",
        f"workdir = {json.dumps(str(workdir))}",
        "keep_drop_records = false",
        "",
    ]
    for stage in stages:
        lines += ["[[pipeline]]", f'stage = "{stage}"', ""]
    return "\n".join(lines)


def ingest_dedup_settings(info: dict[str, Any]) -> str:
    """The dedup stage's defaults (the benchmark's configs set none) and the
    LSH shape and hashing path its report names."""
    try:
        from ingest_plugins.dedup.engine import DedupOptions

        o = DedupOptions()
        text = (
            f"{o.shingle_size}-word shingles, {o.num_perm} permutations, LSH for Jaccard >= {o.threshold} "
            f"(candidates), verified: Jaccard >= {o.jaccard_threshold} or containment >= "
            f"{o.containment_threshold}"
        )
    except ImportError:  # an ingest without this module: the report's figures alone
        text = "defaults"
    shape = ", ".join(f"{k} {info[k]}" for k in ("bands", "rows", "hashing") if k in info)
    return f"{text}; {shape}" if shape else text


def ingest_predictions(out: Path) -> dict[str, str | None]:
    """Each dropped duplicate's survivor, from the run's drop records (one file, or
    one per shard of a sharded run: report.json lists them)."""
    listed = json.loads((out / "report.json").read_text(encoding="utf-8"))["outputs"]["dropped"]
    dup_of: dict[str, str | None] = {}
    for path in [listed] if isinstance(listed, str) else listed:
        with open(path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("duplicate_of"):
                    dup_of[rec["id"]] = rec["duplicate_of"]
    return dup_of


def datatrove_predictions(work: Path) -> tuple[dict[str, str | None], int]:
    """Clusters from datatrove's ``minhash_cluster_id``s (each member a duplicate
    of the smallest id), and how many documents its filter removed."""
    by_cluster: dict[int, list[str]] = defaultdict(list)
    removed = 0
    for sub in ("kept", "removed"):
        for path in sorted((work / sub).glob("*.jsonl")):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    rec = json.loads(line)
                    removed += sub == "removed"
                    cid = rec.get("metadata", {}).get("minhash_cluster_id", -1)
                    if cid is not None and cid >= 0:
                        by_cluster[cid].append(rec["id"])
    dup_of: dict[str, str | None] = {}
    for members in by_cluster.values():
        members.sort()
        for m in members[1:]:
            dup_of[m] = members[0]
    return dup_of, removed


def datatrove_version(python: str) -> str:
    """``datatrove X`` if ``python`` can run ``datatrove_peer.py`` (datatrove;
    tokenizers and xxhash, which its dedup steps import; orjson for its JSONL
    writer; nltk for the Treebank tokenizer), else ``missing ...`` naming what
    it lacks."""
    code = (
        "import importlib.util as u, importlib.metadata as m\n"
        "need = ('datatrove', 'tokenizers', 'xxhash', 'orjson', 'nltk')\n"
        "gone = [n for n in need if u.find_spec(n) is None]\n"
        "print('missing ' + ', '.join(gone) if gone else 'datatrove ' + m.version('datatrove'))"
    )
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"missing: cannot run it ({exc})"
    return out.stdout.strip() or f"missing: exit {out.returncode}: {out.stderr.strip()[-200:]}"


def _peer_failed(name: str, m: dict[str, Any], log: Path) -> None:
    """Say why a peer's row is missing: a package not installed, or the error."""
    err = log.read_text(errors="replace")
    missing = re.search(r"No module named '([\w.]+)'|Please install `([\w.-]+)`", err)
    if missing:
        module = missing.group(1) or missing.group(2)
        print(f"  {name}: skipped ({module} is not installed: pip install {module.split('.')[0]})")
    else:
        print(f"  {name}: failed (exit {m['returncode']}), see {log}:\n{err[-1500:]}")


def run_engine(
    name: str, args: argparse.Namespace, scratch: Path, corpus_bytes: int
) -> dict[str, Any] | None:
    corpus = args.corpus.resolve()
    work = scratch / name
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    log = work / "stderr.log"
    row: dict[str, Any] = {"engine": name}
    pred: dict[str, str | None] | None = None
    if name.startswith("ingest"):
        if name.startswith("ingest-perdoc-w"):
            stages, workers = ["header", "boilerplate"], int(name.rsplit("w", 1)[1])
        elif name.startswith("ingest-dedup-w"):
            stages, workers = ["dedup"], int(name.rsplit("w", 1)[1])
        else:
            stages, workers = ["header", "boilerplate", "dedup"], int(name.rsplit("w", 1)[1])
        out = work / "out"
        cfg = work / "config.toml"
        cfg.write_text(ingest_config(corpus, out, stages, workers, work / "spool"))
        (work / "spool").mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "ingest", "run", "-c", str(cfg), "--workers", str(workers)]
        for setting in args.ingest_set:
            cmd += ["--set", setting]
        m = measure(cmd, env=env, log=log)
        if m["returncode"] != 0:
            print(f"  {name}: failed (exit {m['returncode']}), see {log}:\n{log.read_text()[-1500:]}")
            return None
        report = json.loads((out / "report.json").read_text())
        row["docs"] = report["input"]
        if "shards" in report:
            row["shards"] = report["shards"]
        row["stage_seconds"] = {k: round(v.get("seconds", 0.0), 4) for k, v in report["stages"].items()}
        if "cpu" in report:  # the run's own split, from start to report (no start-up, no output close)
            row["report_cpu"] = report["cpu"]
        if "dedup" in stages:
            dedup = report["stages"]["dedup"]
            row["duplicates_removed"] = dedup.get("dropped_total")
            row["settings"] = ingest_dedup_settings(dedup.get("dedup") or {})
        pred = ingest_predictions(out) if "dedup" in stages else None
        if not args.keep_output:
            shutil.rmtree(out, ignore_errors=True)
    elif name.startswith("datatrove-w"):
        dt = work / "dt"
        shutil.rmtree(dt, ignore_errors=True)
        env["DATATROVE_COLORIZE_LOGS"] = "0"
        cmd = [
            args.datatrove_python,
            str(Path(__file__).resolve().parent / "datatrove_peer.py"),
            "--corpus",
            str(corpus),
            "--workdir",
            str(dt),
            "--workers",
            name.rsplit("w", 1)[1],
            "--tokenizer",
            args.datatrove_tokenizer,
        ]
        m = measure(cmd, env=env, log=log)
        if m["returncode"] != 0:
            _peer_failed(name, m, log)
            return None
        result = json.loads(m["stdout"].split("RESULT ", 1)[1].splitlines()[0])
        row["docs"] = result["docs"]
        row["dt_stage_seconds"] = result["stage_seconds"]
        row["settings"] = f"{result['config']}, tokenizer {result['tokenizer']}"
        row["peer_versions"] = result["versions"]
        pred, row["duplicates_removed"] = datatrove_predictions(dt)
        if not args.keep_output:
            shutil.rmtree(dt, ignore_errors=True)
    else:
        spec = {"corpus": str(corpus), "pred": str(work / "pred.json")}
        if name != "read" and args.slow_limit:
            spec["limit"] = args.slow_limit
        cmd = [sys.executable, __file__, "--_child", name, json.dumps(spec)]
        m = measure(cmd, env=env, log=log)
        if m["returncode"] != 0:
            _peer_failed(name, m, log)
            return None
        result = json.loads(m["stdout"].split("RESULT ", 1)[1].splitlines()[0])
        row["docs"] = result["docs"]
        if result.get("empty"):
            row["empty"] = result["empty"]
        if name in ("datasketch", "justext+datasketch"):
            pred = json.loads(Path(spec["pred"]).read_text())["dup_of"]
            row["duplicates_removed"] = sum(1 for v in pred.values() if v is not None)
    for key in (
        "seconds",
        "peak_tree_mb",
        "max_proc_mb",
        "sum_proc_peaks_mb",
        "proc_peaks_mb",
        "proc_names",
        "coordinator_cpu_s",
        "children_cpu_s",
        "tree_cpu_s",
        "cpu_pressure",
    ):
        row[key] = m[key]
    row["docs_per_s"] = row["docs"] / m["seconds"]
    cpu_columns(row)
    # MB/s over the bytes of the documents this engine read
    row["mb_per_s"] = corpus_bytes * row["docs"] / max(1, args._n_docs) / 1e6 / m["seconds"]
    row["pred"] = pred
    return row


def cpu_columns(row: dict[str, Any]) -> None:
    """Split the child processes' CPU into the workers' and the rest's, and
    give each per document. For an ingest row the workers are the run's
    worker processes (``report.json``'s ``workers_seconds``: the pools, waited
    for before the report), the rest its other children (the report.html
    builder, waited for after it); for any other row every child is a worker."""
    children = row.get("children_cpu_s")
    workers, other = children, None
    run_workers = (row.get("report_cpu") or {}).get("workers_seconds")
    if children is not None and run_workers is not None:
        workers = min(children, run_workers)  # ticks against microseconds: never below zero
        other = children - workers
    row["workers_cpu_s"], row["other_cpu_s"] = workers, other
    for who in ("coordinator", "workers", "other"):
        cpu = row[f"{who}_cpu_s"]
        row[f"{who}_us_per_doc"] = None if cpu is None else cpu / max(1, row["docs"]) * 1e6


# ---------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    def first(path: str, prefix: str) -> str:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    cpu = first("/proc/cpuinfo", "model name")
    mem_kb = first("/proc/meminfo", "MemTotal").split()
    mem = f"{int(mem_kb[0]) / 2**20:.1f} GiB" if mem_kb else ""
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("ingest", "datasketch", "datatrove", "justext", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


def _workers_of(engine: str) -> str | None:
    """``N`` of an ``...-wN`` row, else None."""
    head, _, n = engine.rpartition("-w")
    return n if head and n.isdigit() else None


def print_table(rows: list[dict[str, Any]], n_docs: int, corpus_mb: float) -> list[str]:
    lines = []
    by = {r["engine"]: r for r in rows}
    limit = by.get("read")
    peers = [p for p in SINGLE_PEERS if p in by]
    with_datatrove = any(r["engine"].startswith("datatrove-w") for r in rows)
    head = (
        "| engine | docs | seconds | docs/s | MB/s | coordinator CPU µs/doc | workers CPU µs/doc "
        "| other children CPU µs/doc "
        "| peak tree RSS | max proc RSS | sum of proc peaks | removed as duplicates | P | R | F1 "
        "| hard neg merged | kept / expected | x limit |"
        + "".join(f" x {p} |" for p in peers)
        + (" x datatrove (same workers) |" if with_datatrove else "")
        + " CPU pressure |"
    )
    lines.append(head)
    lines.append("|" + " --- |" * (head.count("|") - 1))
    for r in rows:
        q = r.get("quality")
        qcols = (
            (
                f"{q['P']:.3f} | {q['R']:.3f} | {q['F1']:.3f} | {q['hard_neg_merged']}/{q['hard_negs']} "
                f"| {q['kept']}/{q['expected']}"
            )
            if q
            else "- | - | - | - | -"
        )
        xl = (
            f"{r['docs_per_s'] / limit['docs_per_s']:.3f}"
            if limit and r is not limit
            else ("1" if r is limit else "-")
        )
        xp = "".join(
            " - |" if p == r["engine"] else f" {r['docs_per_s'] / by[p]['docs_per_s']:.1f} |" for p in peers
        )
        if with_datatrove:
            # each row against datatrove with as many workers: ingest-w2 / datatrove-w2, ...
            dt = by.get(f"datatrove-w{_workers_of(r['engine'])}")
            xp += " - |" if dt is None or dt is r else f" {r['docs_per_s'] / dt['docs_per_s']:.2f} |"
        cpu = " | ".join(_us(r.get(f"{who}_us_per_doc")) for who in ("coordinator", "workers", "other"))
        removed = r.get("duplicates_removed")
        lines.append(
            f"| {r['engine']} | {r['docs']} | {r['seconds']:.1f} | {r['docs_per_s']:,.0f} | {r['mb_per_s']:.1f} "
            f"| {cpu} | {r['peak_tree_mb']:,.0f} MB | {r['max_proc_mb']:,.0f} MB "
            f"| {r.get('sum_proc_peaks_mb', 0):,.0f} MB | {'-' if removed is None else removed} "
            f"| {qcols} | {xl} |{xp} {_pct(r.get('cpu_pressure'))} |"
        )
    seen: set[str] = set()
    for r in rows:  # each distinct dedup setting once, after the table, named by its first row
        if r.get("settings") and r["settings"] not in seen:
            lines += ["", f"{r['engine']} dedup settings: {r['settings']}"]
            seen.add(r["settings"])
    for line in lines:
        print(line)
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_stage_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per-stage µs per document of the ingest rows (stage seconds from
    report.json, summed over the workers: per-core cost), and the run's own
    CPU split from report.json (start to report: no start-up, no output close)."""
    ingest_rows = [r for r in rows if "stage_seconds" in r]
    if not ingest_rows:
        return []
    stages = list(dict.fromkeys(s for r in ingest_rows for s in r["stage_seconds"]))
    head = (
        "| row | "
        + " | ".join(f"{s} µs/doc" for s in stages)
        + " | run coordinator CPU µs/doc | run workers CPU µs/doc | per-process peak RSS |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in ingest_rows:
        per_doc = 1e6 / max(1, r["docs"])
        cells = [_us(r["stage_seconds"][s] * per_doc) if s in r["stage_seconds"] else "-" for s in stages]
        cpu = r.get("report_cpu") or {}
        for key in ("coordinator_seconds", "workers_seconds"):
            cells.append("-" if cpu.get(key) is None else _us(cpu[key] * per_doc))
        peaks = zip(r.get("proc_names") or [""] * len(r.get("proc_peaks_mb", [])), r.get("proc_peaks_mb", []))
        cells.append(", ".join(f"{name} {mb:,.0f}".strip() for name, mb in peaks) + " MB")
        lines.append(f"| {r['engine']} | " + " | ".join(cells) + " |")
    for line in lines:
        print(line)
    return lines


def print_datatrove_table(rows: list[dict[str, Any]]) -> list[str]:
    """datatrove's rows: each MinHash stage's wall time per document (the
    whole stage, all its workers: not per-core like ingest's stage table) and
    each process's peak RSS."""
    dt_rows = [r for r in rows if "dt_stage_seconds" in r]
    if not dt_rows:
        return []
    stages = list(dt_rows[0]["dt_stage_seconds"])
    head = "| row | " + " | ".join(f"{s} wall µs/doc" for s in stages) + " | per-process peak RSS |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in dt_rows:
        per_doc = 1e6 / max(1, r["docs"])
        cells = [_us(r["dt_stage_seconds"].get(s, 0.0) * per_doc) for s in stages]
        peaks = zip(r.get("proc_names", []), r.get("proc_peaks_mb", []))
        cells.append(", ".join(f"{name} {mb:,.0f}" for name, mb in peaks) + " MB")
        lines.append(f"| {r['engine']} | " + " | ".join(cells) + " |")
    for line in lines:
        print(line)
    return lines


def print_row(row: dict[str, Any]) -> None:
    q = row.get("quality")
    print(
        f"  {row['docs']} docs in {row['seconds']:.1f} s = {row['docs_per_s']:,.0f} docs/s, "
        f"peak tree RSS {row['peak_tree_mb']:,.0f} MB"
        + (
            f", CPU {row['coordinator_cpu_s']:.2f} s in the process + {row['workers_cpu_s']:.2f} s in its workers"
            + (
                f" + {row['other_cpu_s']:.2f} s in other children"
                if row.get("other_cpu_s") is not None
                else ""
            )
            if row.get("coordinator_cpu_s") is not None
            else ""
        )
        + (
            ", peak RSS per process "
            + ", ".join(f"{n} {mb:,.0f}" for n, mb in zip(row.get("proc_names", []), row["proc_peaks_mb"]))
            + " MB"
            if row.get("proc_peaks_mb")
            else ""
        )
        + (f", CPU pressure {row['cpu_pressure']:.0%}" if row.get("cpu_pressure") is not None else "")
        + (f", P {q['P']:.3f} R {q['R']:.3f}" if q else "")
        + (
            f", {row['duplicates_removed']} removed as duplicates"
            if row.get("duplicates_removed") is not None
            else ""
        )
        + (f", {row['empty']} documents left empty" if row.get("empty") else "")
        + (f", stages {row['stage_seconds']}" if "stage_seconds" in row else "")
        + (f", stages (wall) {row['dt_stage_seconds']}" if "dt_stage_seconds" in row else ""),
        flush=True,
    )


def run_perdoc_rounds(
    names: list[str], args: argparse.Namespace, scratch: Path, corpus_bytes: int
) -> list[dict[str, Any]]:
    """The ``ingest-perdoc-wN`` rows, run in ``--perdoc-rounds`` interleaved
    rounds (w1, w2, w1, w2, ...). The machine's speed drifts from minute to
    minute, so one pair run one after the other can be 20% off; each row is
    its median round, and the ratio to the row with the fewest workers is
    given per round and of the medians."""
    names = sorted(names, key=lambda name: int(name.rsplit("w", 1)[1]))  # the fewest workers first: the base
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_no in range(1, args.perdoc_rounds + 1):
        for name in names:
            print(f"running {name} (round {round_no} of {args.perdoc_rounds}) ...", flush=True)
            row = run_engine(name, args, scratch, corpus_bytes)
            if row is None:
                return []
            row.pop("pred")
            print_row(row)
            runs[name].append(row)
    base = runs[names[0]]
    medians = []
    for name in names:
        ordered = sorted(runs[name], key=lambda r: r["seconds"])
        median = dict(ordered[(len(ordered) - 1) // 2])  # the lower median: a real run, not an average
        median["rounds_seconds"] = [round(r["seconds"], 2) for r in runs[name]]
        medians.append(median)
    for name, median in zip(names[1:], medians[1:]):
        per_round = [b["seconds"] / r["seconds"] for b, r in zip(base, runs[name])]
        print(
            f"  {name} against {names[0]}: "
            + ", ".join(f"{x:.2f}x" for x in per_round)
            + f" by round; {medians[0]['seconds'] / median['seconds']:.2f}x of the medians "
            f"({medians[0]['seconds']:.1f} s / {median['seconds']:.1f} s)",
            flush=True,
        )
    return medians


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--corpus",
        type=Path,
        help="a folder written by generate_corpus.py, or any folder of .txt files (not scored), "
        "e.g. the dev pages (a folder with an input/ folder and no clusters.jsonl: its input/)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="unlabelled corpus: run on N copies of it (in --scratch), for a run long enough to "
        "measure; the copies are exact duplicates, so dedup drops all but one",
    )
    ap.add_argument(
        "--workers", default="1,2", help="worker counts for ingest's pipeline rows (comma-separated)"
    )
    ap.add_argument(
        "--ingest-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to ingest run as --set KEY=VALUE (e.g. run.shard_files=2000, run.shards=off); repeatable",
    )
    ap.add_argument(
        "--skip",
        nargs="*",
        default=[],
        help="engines to leave out, by name or prefix (e.g. datatrove justext+datasketch ingest-dedup)",
    )
    ap.add_argument(
        "--only", default="", help="comma-separated engines to run (prefixes: ingest, ingest-perdoc, ...)"
    )
    ap.add_argument("--no-perdoc", action="store_true", help="leave out the ingest-perdoc-wN rows")
    ap.add_argument(
        "--perdoc-rounds",
        type=int,
        default=3,
        help="interleaved rounds of the ingest-perdoc-wN rows; each row is its median round (default 3)",
    )
    ap.add_argument("--slow-limit", type=int, default=0, help="datasketch rows: first N documents only")
    ap.add_argument(
        "--scratch", type=Path, default=None, help="folder for outputs (default: a temporary one)"
    )
    ap.add_argument("--keep-output", action="store_true", help="keep each engine's output in --scratch")
    ap.add_argument(
        "--peers",
        default="all",
        help="comma-separated peer engines to run: datasketch, justext+datasketch, datatrove; "
        "'all' (default) or 'none'",
    )
    ap.add_argument(
        "--datatrove-python",
        default=os.environ.get("DATATROVE_PYTHON", sys.executable),
        help="the Python that runs datatrove_peer.py, e.g. a virtualenv's bin/python with "
        "'datatrove[processing]' and orjson (default: $DATATROVE_PYTHON, else this interpreter)",
    )
    ap.add_argument(
        "--datatrove-tokenizer",
        choices=("treebank", "default"),
        default="treebank",
        help="datatrove's word tokenizer: NLTK Treebank (default) or datatrove's own (spaCy)",
    )
    ap.add_argument(
        "--no-warmup", action="store_true", help="do not read the corpus once before the timed rows"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the rows and machine info here")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        return child(args._child[0], json.loads(args._child[1]))
    if args.perdoc_rounds < 1:
        ap.error("--perdoc-rounds must be 1 or more")
    if args.corpus is None or not args.corpus.is_dir():
        ap.error("--corpus must be a folder written by generate_corpus.py or a folder of .txt files")
    labelled = (args.corpus / "clusters.jsonl").exists()
    if not labelled and (args.corpus / "input").is_dir():
        args.corpus = args.corpus / "input"  # the dev pages' layout: input/ beside gold/
    if args.repeat < 1 or (args.repeat > 1 and labelled):
        ap.error("--repeat takes 1 or more, and more than 1 only for a corpus without clusters.jsonl")

    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    engines = ["read"] + [f"ingest-w{w}" for w in workers]
    if not args.no_perdoc:
        engines += [f"ingest-perdoc-w{w}" for w in workers]
    engines += [f"ingest-dedup-w{w}" for w in workers]
    peers = PEERS if args.peers == "all" else [p.strip() for p in args.peers.split(",") if p.strip()]
    if peers == ["none"]:
        peers = []
    if set(peers) - set(PEERS):
        ap.error(f"--peers takes {', '.join(PEERS)}, all or none")
    engines += [p for p in PEERS if p in peers and p != "datatrove"]
    if "datatrove" in peers:
        engines += [f"datatrove-w{w}" for w in workers]

    def named(engine: str, names: list[str]) -> bool:  # a name or its prefix: ingest-dedup means every -wN
        return any(engine == n or engine.startswith(n + "-") for n in names)

    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        engines = [e for e in engines if e == "read" or named(e, wanted)]
    engines = [e for e in engines if not named(e, args.skip)]

    scratch_ctx = tempfile.TemporaryDirectory(prefix="scale-bench-") if args.scratch is None else None
    scratch = Path(scratch_ctx.name) if scratch_ctx else args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, engines, scratch, labelled)
    finally:
        if scratch_ctx:
            scratch_ctx.cleanup()


def _bench(args: argparse.Namespace, engines: list[str], scratch: Path, labelled: bool) -> int:
    corpus = args.corpus.resolve()
    if args.repeat > 1:
        copies = scratch / f"corpus-x{args.repeat}"
        shutil.rmtree(copies, ignore_errors=True)
        for k in range(args.repeat):
            for rel in corpus_files(corpus):
                target = copies / f"{k:04d}" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(corpus / rel, target)
        print(f"{args.repeat} copies of {corpus} in {copies}")
        corpus = args.corpus = copies
    labels = load_labels(corpus) if labelled else {}
    if any(e.startswith("datatrove-w") for e in engines):
        found = datatrove_version(args.datatrove_python)
        if found.startswith("missing"):
            print(
                f"datatrove: skipped, {args.datatrove_python} {found} (a separate virtualenv will do: "
                "python3 -m venv VENV && VENV/bin/pip install 'datatrove[processing]' orjson, then "
                "--datatrove-python VENV/bin/python)"
            )
            engines = [e for e in engines if not e.startswith("datatrove-w")]
        args._datatrove_version = found
    files = corpus_files(corpus)
    if not files:
        raise SystemExit(f"no .txt file under {corpus}")
    args._n_docs = len(files)
    corpus_bytes = sum(os.path.getsize(corpus / f) for f in files)
    info = {
        "machine": machine(),
        "versions": versions(),
        "corpus": str(corpus),
        "docs": len(files),
        "bytes": corpus_bytes,
    }
    if getattr(args, "_datatrove_version", "").startswith("datatrove"):
        info["versions"]["datatrove"] = f"{args._datatrove_version} ({args.datatrove_python})"
    print(
        f"corpus {corpus}: {len(files)} docs, {corpus_bytes / 1e6:.1f} MB; "
        f"{info['machine']['cpus']} CPUs ({info['machine']['cpu']}), {info['machine']['memory']}, "
        f"Python {info['machine']['python']}; {info['versions']}"
    )
    if not args.no_warmup:
        t0 = time.perf_counter()
        for _ in read_texts(corpus, files):
            pass
        print(
            f"warm-up: read every file once ({time.perf_counter() - t0:.1f} s), so no row pays for a cold page cache"
        )
        compiled = compile_ingest()
        print(f"warm-up: ingest's modules compiled to bytecode in {', '.join(compiled) or 'no folder'}")
    if not labelled:
        print("no clusters.jsonl: duplicate quality is not scored")
    missing = set(files) - set(labels)
    if labelled and missing:
        print(f"warning: {len(missing)} files have no label")

    rows = []
    perdoc = [e for e in engines if e.startswith("ingest-perdoc-w")]
    for name in engines:
        if name in perdoc:
            if name == perdoc[0]:  # all of them, in interleaved rounds
                rows += run_perdoc_rounds(perdoc, args, scratch, corpus_bytes)
            continue
        print(f"running {name} ...", flush=True)
        row = run_engine(name, args, scratch, corpus_bytes)
        if row is None:
            continue
        pred = row.pop("pred")
        if pred is not None and labelled:
            ids = files[: row["docs"]]
            row["quality"] = score(pred, labels, ids)
        print_row(row)
        rows.append(row)
    print()
    table = print_table(rows, len(files), corpus_bytes / 1e6)
    print()
    table += [""] + print_stage_table(rows)
    if any("dt_stage_seconds" in r for r in rows):
        print()
        table += [""] + print_datatrove_table(rows)
    if args.json:
        args.json.write_text(json.dumps({**info, "rows": rows, "table": table}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
