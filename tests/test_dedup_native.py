"""The optional C kernels of the dedup stage against the numpy reference.

Both paths must give the same token hashes, offsets, exact keys, shingle sets
and signatures, hence the same decisions and the same index bytes; an index
written by one path is read by the other. The native-specific tests skip when
the extension is not built (no C compiler when the package was installed).
"""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_plugins.dedup import DedupEngine, DedupOptions, native
from ingest_plugins.dedup.engine import _hash_batch
from ingest_plugins.dedup.minhash import MinHasher
from ingest_plugins.dedup.shingles import ShingleHasher, Tokens

try:
    from ingest_plugins.dedup import _native as LIB
except ImportError:  # not built: only the numpy path exists
    LIB = None

ROOT = Path(__file__).resolve().parent.parent
needs_native = pytest.mark.skipif(
    LIB is None, reason="native dedup extension not built (no C compiler at install time); numpy path only"
)


@contextmanager
def path(lib: ModuleType | None) -> Iterator[None]:
    """Hash with ``lib`` (the C kernels) or, with None, numpy."""
    saved = native.lib
    native.lib = lib
    try:
        yield
    finally:
        native.lib = saved


# ---------------------------------------------------------------- texts
WORDS = {
    "ascii": "the quick brown fox jumps over lazy dog state_of_the_art 2026 x1".split(),
    "latin1": "caf\u00e9 na\u00efve gar\u00e7on \u00fcber \u00c5ngstr\u00f6m se\u00f1or \u00b5 \u00aa\u00ba".split(),
    "cjk": "\u4e2d\u6587\u5b57 \u65e5\u672c\u8a9e\u306e\u6587 \ud55c\uad6d\uc5b4 \u0661\u0662\u0663 \u0915\u093f\u0924\u093e\u092c".split(),
    "astral": "\U0001f600 \U0001d400\U0001d401 \U00020000\U00020001 a\U0001f44db \U0001f1fa\U0001f1f8 \U0001d7ce".split(),
}
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85", " \n\t "]
PUNCT = [",", ".", " - ", "\u2014", "\u201c", "!", "\x00", "'", "\u00b7", "\u0301"]


def random_text(rng: random.Random, kinds: list[str], words: int) -> str:
    out = [rng.choice(SPACES)] if rng.random() < 0.2 else []
    for _ in range(words):
        out.append(rng.choice(WORDS[rng.choice(kinds)]))
        out.append(rng.choice(SPACES) if rng.random() < 0.8 else rng.choice(PUNCT))
    return "".join(out)


SPECIAL = [
    "",
    " ",
    "   \t\n ",
    "\u3000\u2003",
    "\x00",
    "a\x00b",
    "\x00\x00 x \x00",
    "one",
    "two words",
    "a b c d",  # shorter than the shingle size
    "a b c d e",
    "_",
    "__init__ x__y",
    "\U0001f600",
    "\U0001f600\U0001f600 \U0001d400",
    "caf\u00e9",
    "\u00ff\u00fe ascii",
    "\ud800 lone \udfff surrogates",
    "\u4e2d\u6587",
]


def corpus(seed: int = 5, n: int = 120) -> list[str]:
    rng = random.Random(seed)
    kinds = [["ascii"], ["latin1"], ["cjk"], ["astral"], ["ascii", "latin1"], ["ascii", "cjk", "astral"]]
    texts = [random_text(rng, rng.choice(kinds), rng.randint(0, 40)) for _ in range(n)]
    return texts + SPECIAL


def batches() -> list[list[str]]:
    texts = corpus()
    ascii_only = [t for t in texts if t.isascii()]
    return [
        texts,  # mixed
        ascii_only,
        [t for t in texts if not t.isascii()],
        [t for t in texts if "\x00" not in t],
        [t for t in texts if any(ord(c) > 0xFFFF for c in t)],  # UCS-4 batch
        SPECIAL,
        [""],
        [],
        ["   "],
        ascii_only[:3] + ["\u00e9"],
    ]


def same_tokens(a: Tokens, b: Tokens) -> None:
    assert a.hashes.dtype == b.hashes.dtype == np.uint64
    assert np.array_equal(a.hashes, b.hashes)
    assert np.array_equal(a.offsets, b.offsets) and a.offsets.dtype == np.int64
    assert a.keys == b.keys


def both(sh: ShingleHasher, mh: MinHasher, texts: list[str]) -> tuple[tuple, tuple]:
    out = []
    for lib in (LIB, None):
        with path(lib):
            tok = sh.tokens(texts)
            sets, off = sh.shingle_sets(tok)
            out.append((tok, sets, off, mh.signatures(sets, off)))
    return out[0], out[1]


# ---------------------------------------------------------------- kernels
@needs_native
def test_character_classes_match_python() -> None:
    # \w = isalnum() or "_", whitespace = isspace(): every code point, astral included
    classes = np.array([LIB.char_class(c) for c in range(0x110000)])
    for c in np.flatnonzero(classes == 1).tolist():
        assert chr(c).isalnum() or c == 0x5F, hex(c)
    for c in np.flatnonzero(classes == 2).tolist():
        assert chr(c).isspace(), hex(c)
    for c in np.flatnonzero(classes == 0).tolist():
        ch = chr(c)
        assert not (ch.isalnum() or ch == "_" or ch.isspace()), hex(c)


@needs_native
@pytest.mark.parametrize("whitespace", [True, False])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_native_matches_numpy(whitespace: bool, k: int) -> None:
    sh = ShingleHasher(7, k)
    sh.whitespace = whitespace
    mh = MinHasher(128, 7)
    for texts in batches():
        (tn, sn, on, gn), (tp, sp, op, gp) = both(sh, mh, texts)
        same_tokens(tn, tp)
        assert sn.dtype == sp.dtype == np.uint32 and np.array_equal(sn, sp)
        assert np.array_equal(on, op)
        assert gn.shape == gp.shape and np.array_equal(gn, gp)
        for d, text in enumerate(texts):
            assert tn.doc(d).size == len(re.findall(r"\w+", text))


@needs_native
def test_native_matches_python_definitions() -> None:
    # independent of both implementations: tokens are re.findall(r"\w+"),
    # the key hashes " ".join(text.split()) in its narrowest width
    import hashlib

    sh = ShingleHasher(3, 5)
    with path(LIB):
        texts = corpus(9)
        tok = sh.tokens(texts)
    for d, text in enumerate(texts):
        want = []
        for w in re.findall(r"\w+", text):
            h = 0
            for i, c in enumerate(w):
                h = (h + ord(c) * pow(sh._base, i, 2**64)) % 2**64
            want.append(h)
        got = tok.doc(d)
        assert got.size == len(want)
        c = " ".join(text.split())
        top = max(map(ord, c), default=0)
        raw = (
            c.encode("ascii")
            if top < 128
            else c.encode("utf-16-le" if top < 0x10000 else "utf-32-le", "surrogatepass")
        )
        assert tok.keys[d] == hashlib.blake2b(raw, digest_size=16).digest()


@needs_native
def test_native_matches_numpy_story_and_classic() -> None:
    from ingest_plugins.dedup.story import winnow_batch

    sh = ShingleHasher(2, 5)
    texts = corpus(3)
    with path(LIB):
        tn = sh.tokens(texts)
    with path(None):
        tp = sh.tokens(texts)
    for a, b in zip(winnow_batch(sh, tn, 8, 4), winnow_batch(sh, tp, 8, 4)):
        assert np.array_equal(a, b)
    params = (2, 5, True, 64, "classic", True, 8, 4)
    with path(LIB):
        rn = _hash_batch(params, texts)
    with path(None):
        rp = _hash_batch(params, texts)
    assert rn[0] == rp[0]
    for x, y in zip(rn[1:4], rp[1:4]):
        assert np.array_equal(x, y)
    assert all(np.array_equal(x, y) for x, y in zip(rn[4], rp[4]))


@needs_native
@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.characters(exclude_categories=()), max_size=60), max_size=8),
    st.booleans(),
)
def test_property_random_unicode(texts: list[str], whitespace: bool) -> None:
    sh = ShingleHasher(11, 3)
    sh.whitespace = whitespace
    mh = MinHasher(16, 11)
    (tn, sn, on, gn), (tp, sp, op, gp) = both(sh, mh, texts)
    same_tokens(tn, tp)
    assert np.array_equal(sn, sp) and np.array_equal(on, op) and np.array_equal(gn, gp)


@needs_native
def test_native_accepts_only_str() -> None:
    with pytest.raises(TypeError):
        LIB.tokens(["ok", b"bytes"], 3, 1, True)
    with pytest.raises(ValueError):
        LIB.shingle_sets(np.zeros(1, dtype=np.uint64), np.zeros(0, dtype=np.int64), 5)


def test_active_path_is_reported() -> None:
    assert native.active() in ("native", "numpy")
    eng = DedupEngine()
    eng.add("a", "some words here")
    eng.resolve()
    assert eng.stats["hashing"] == native.describe()
    with path(None):
        assert native.active() == "numpy"


def test_env_var_forces_numpy(tmp_path: Path) -> None:
    import subprocess

    code = "from ingest_plugins.dedup import native; print(native.active(), native.reason)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**_env(), "INGEST_NATIVE": "0"},
    ).stdout
    assert out.split()[0] == "numpy" and "INGEST_NATIVE=0" in out


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


# ---------------------------------------------------------------- engine
def _generated(n: int, seed: int) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(
        "generate_corpus", ROOT / "benchmarks" / "generate_corpus.py"
    )
    gen = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(gen)
    return {f"d{i:05d}": text for i, (text, _) in enumerate(gen.documents(n, seed=seed))}


def _run(docs: dict[str, str], lib: ModuleType | None, index: Path, **opts: object) -> dict:
    with path(lib):
        eng = DedupEngine(DedupOptions(**opts))
        for k, v in docs.items():
            eng.add(k, v)
        return eng.resolve()


@needs_native
def test_engine_same_decisions_and_index_bytes(tmp_path: Path) -> None:
    docs = _generated(400, seed=4)
    # a few non-ASCII documents so every kernel path runs
    rng = random.Random(1)
    for i in range(30):
        docs[f"u{i:03d}"] = random_text(rng, ["ascii", "latin1", "cjk", "astral"], 80)
    docs["u-copy"] = "  " + docs["u001"].replace(" ", "\u3000 ") + "\n"
    results = {}
    for name, lib in (("native", LIB), ("numpy", None)):
        idx = tmp_path / f"{name}.idx"
        results[name] = (_run(docs, lib, idx, save_index=str(idx), story_grouping=True), idx.read_bytes())
    assert results["native"][0] == results["numpy"][0]
    assert sum(not d.keep for d in results["native"][0].values()) > 20  # the corpus has duplicates
    assert results["native"][1] == results["numpy"][1]


@needs_native
def test_index_written_by_one_path_read_by_the_other(tmp_path: Path) -> None:
    docs = _generated(300, seed=8)
    ids = list(docs)
    old = {k: docs[k] for k in ids[:150]}
    new = {k: docs[k] for k in ids[150:]}
    out = {}
    for writer, reader in ((LIB, None), (None, LIB), (LIB, LIB), (None, None)):
        idx = tmp_path / f"{id(writer)}-{id(reader)}.idx"
        _run(old, writer, idx, save_index=str(idx))
        again = tmp_path / f"{id(writer)}-{id(reader)}-2.idx"
        decisions = _run(new, reader, again, index_path=str(idx), save_index=str(again))
        out[(writer is None, reader is None)] = (decisions, again.read_bytes())
    first = next(iter(out.values()))
    for decisions, raw in out.values():
        assert decisions == first[0]
        assert raw == first[1]


@needs_native
def test_stage_same_output_both_paths(run_pipeline) -> None:
    from ingest import Document

    docs = [Document(id=k, text=v) for k, v in _generated(200, seed=2).items()]
    outs = []
    for lib in (LIB, None):
        with path(lib):
            result = run_pipeline(docs, ["dedup"])
            shown = native.describe()
        stats = dict(result.ledger.stages["dedup"].extra["dedup"])
        assert stats.pop("hashing") == shown
        assert shown == "native" if lib else shown.startswith("numpy (")
        outs.append(
            ([d.id for d in result.kept], [(r.id, r.duplicate_of, r.reason) for r in result.dropped], stats)
        )
    assert outs[0] == outs[1]
    assert outs[0][1]  # duplicates were found


@needs_native
def test_pair_similarities_native_matches_numpy() -> None:
    from ingest_plugins.dedup.shingles import ShingleStore, pair_similarities

    rng = np.random.default_rng(3)
    store = ShingleStore()
    n = 60
    sets = []
    for i in range(n):  # overlapping sets of many sizes, some empty, some equal
        base = rng.integers(0, 400 if i % 3 else 2**32, size=int(rng.integers(0, 300)), dtype=np.uint64)
        sets.append(
            np.unique(base).astype(np.uint32) if i % 7 else (sets[-1] if sets else np.zeros(0, np.uint32))
        )
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([s.size for s in sets], out=offsets[1:])
    store.put(np.arange(n), np.concatenate(sets), offsets, np.arange(n))
    store.share(np.array([n]), np.array([5]))  # an exact copy shares its range
    pairs = rng.integers(0, n + 1, size=(500, 2))
    pairs[:3] = [[0, 0], [5, n], [n, 5]]
    with path(LIB):
        got = pair_similarities(store, pairs)
    with path(None):
        want = pair_similarities(store, pairs, chunk_elems=1000)  # several chunks
    for x, y in zip(got, want):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    with pytest.raises(ValueError):
        LIB.intersections(
            store.data[: store.used],
            np.array([store.used], dtype=np.int64),
            np.array([1]),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
        )


@pytest.mark.parametrize("compiled", [True, False], ids=["native", "python"])
def test_signatures_read_back_by_row_are_the_files_rows(tmp_path: Path, compiled: bool) -> None:
    if compiled and LIB is None:
        pytest.skip("native dedup extension not built")
    lib = LIB if compiled else None
    from ingest_plugins.dedup.shard_hashes import SignatureScratch

    rng = np.random.default_rng(4)
    sigs = rng.integers(0, 2**32, size=(300, 16), dtype=np.uint32)
    scratch = SignatureScratch(300, 16, str(tmp_path))
    try:
        scratch.append(sigs[:100])
        scratch.append(sigs[100:])
        scratch.finish()
        with path(lib):
            slots = rng.integers(0, 300, size=1000)  # repeats: each distinct row is read once
            assert np.array_equal(scratch.signatures(slots), sigs[slots])
            assert scratch.signatures(np.zeros(0, dtype=np.int64)).shape == (0, 16)
            with pytest.raises(IndexError):
                scratch.signatures(np.array([300]))
    finally:
        scratch.close()
    assert not tmp_path.joinpath(scratch.folder.name).exists()
