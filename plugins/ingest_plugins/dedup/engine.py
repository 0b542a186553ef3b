"""The dedup engine: exact + MinHash/LSH near-duplicates, verified, clustered.

Flow: ``add()`` every document once (streaming: normalise, hash in batches,
keep a signature and, up to ``shingle_memory_mb``, a compact shingle-hash
set; never the text), then ``resolve()``: exact groups by content key, LSH
candidate pairs among one representative per exact group, candidates that
cannot pass skipped on their signatures, the others verified with the real
Jaccard / containment of the shingle sets (re-derived from
``resolve(texts=...)`` when not held; containment relaxed for short texts:
``edit_budget``), composite pages found (a digest made of other documents:
see ``DedupOptions``) and kept out of the clusters of the others, union-find
components, one survivor per cluster; with ``clusters = "star"`` (default) a
component is split so that every dropped document is itself a verified
duplicate of its survivor.

Survivors. ``longest`` / ``earliest`` / ``preferred_outlets``: the best member
of each cluster of the run (ties: smallest id), so the result does not depend
on input order. ``first_seen``: each document is judged against the documents
added before it only; it is dropped as a duplicate of the first-seen kept
document it is linked to (through documents before it) and is itself a
verified duplicate of (``transitive``: of the first-seen member of what it
is linked to). A later document never changes an earlier decision: if it
bridges two kept documents it is dropped as a duplicate of the earlier one it
resembles, and the other stays kept.

Persistent index: ``save()`` stores every resolved document (kept and
dropped) as signature + shingle hashes + cluster root (+ story fingerprints
and label), no text. A later engine built with ``load()`` (or ``index_path``)
dedups new documents against it. Documents in the index were exported by an
earlier run, so they always win: a cluster that contains an indexed document
keeps an indexed survivor and every new member that is a verified duplicate of
it is dropped (``transitive``: every new member). The index also lists the
composite pages (optional array ``composite``; none: absent, as earlier
versions wrote it). With
``first_seen`` this is exactly what one combined run over old + new
documents (old first) decides for the new documents; with the other policies
a new document that would have beaten an old survivor is dropped instead (the
old one is already out). ``resolve()`` may also be called again after more
``add()`` calls: the earlier documents then act like an index.
"""

from __future__ import annotations

import array
import bisect
import collections
import concurrent.futures
import itertools
import math
import multiprocessing
import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol

import attrs
import numpy as np

from ingest.engine.lifeline import pool_initializer, stop_pool

from . import native
from .buckets import BucketFinds, VerifiedPairs, cut_buckets, find_in_partition
from .clusters import UnionFind
from .index import IndexFormatError, read_index, write_index
from .lsh import BucketStats, optimal_params
from .lsh import candidate_pairs as candidate_pairs_local
from .minhash import MinHasher
from .normalize import normalize_text
from .shard_hashes import KEY_BYTES, ShardHashes, SignatureScratch
from .shingles import EMPTY_U32, ShingleHasher, ShingleStore, concat_ranges, pair_similarities, sorted_unique
from .story import story_edges, winnow_batch
from .strings import StringColumn
from .survivors import POLICIES, policy_rank

if TYPE_CHECKING:
    from .parts import FoundParts

# attrs metadata key the core framework uses for path options (resolved
# relative to config.toml); spelled out to avoid importing the core here.
_PATH_OPTION = {"ingest_path": True}
_BATCH_CHARS = 1 << 19
_NO_EDGES = np.zeros((0, 2), dtype=np.int64)
_NO_ROWS = np.zeros(0, dtype=np.int64)
#: a page with more parts than this has its parts' relatedness from the verified LSH edges
#: only, instead of measuring every pair of them
_PARTS_MEASURED = 200
#: parts of a page sharing at least this share of the smaller one's shingles are one piece
_RELATED = 0.5
#: first_seen: pairs inside connected groups up to this size are measured in one batch up front
_GROUP_MEASURED = 32
#: smallest shingle hashes kept per document: a document contained in a page has them in the page
_BOTTOM = 4
#: ... unless that hash is among the smallest of more documents than this (shared page furniture)
_BOTTOM_MAX_DF = 64
#: pages whose shingles are looked up among the smallest hashes at once (their sets are held meanwhile)
_PAGES_LOOKED_UP = 1024
#: Candidate pairs prefiltered at a time (their signatures read together: 4 MB a side).
_PREFILTER_CHUNK = 8192
#: Unions made from one chunk of row pairs (their Python ints exist a chunk at a time).
_UNIONS_AT_ONCE = 1 << 16
#: Candidates' texts asked of ``texts_at`` at once (their positions exist a chunk at a time).
_REREAD_AT_ONCE = 1 << 16
#: Row pairs measured a pair at a time by _sims (more go through numpy at once).
_FEW_PAIRS = 32

#: ``(phase, done, total)``: what :meth:`DedupEngine.resolve` is doing, for a
#: progress display (``done``/``total`` may be None).
Progress = Callable[[str, Optional[int], Optional[int]], None]


def _in(*allowed: str) -> Callable[[Any, attrs.Attribute, Any], None]:
    def check(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ValueError(f"{attr.name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")

    return check


def _unit(_inst: Any, attr: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must be between 0 and 1, got {value!r}")


def _positive(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attr.name} must be >= 1, got {value!r}")


def _non_negative(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must be >= 0, got {value!r}")


def _opt(default: Any, *validators: Any, help: str, metadata: dict[str, Any] | None = None) -> Any:
    return attrs.field(
        default=default, validator=list(validators) or None, metadata={**(metadata or {}), "help": help}
    )


@attrs.define
class DedupOptions:
    """Options of the dedup stage (each one a ``config.toml`` key).

    Candidate search vs. decision: ``threshold`` (or ``bands``/``rows``) only
    controls which pairs LSH proposes; a pair is a duplicate only when its real
    shingle-set Jaccard >= ``jaccard_threshold`` or its containment >=
    ``containment_threshold`` (and the smaller text has at least
    ``containment_min_shingles`` shingles, so tiny texts are not "contained"
    in everything). The LSH target (0.2 -> 28 bands of 2 rows: a pair with
    Jaccard 0.4 is a candidate with probability 0.99, 0.3: 0.93, 0.2: 0.68,
    0.05: 0.07) is set far below the verification thresholds so that copies
    with extra or missing paragraphs (low Jaccard, high containment: a text
    80% contained in one twice its size has Jaccard 0.36) still become
    candidates; candidates whose signatures show they cannot pass are skipped
    before verification (``prefilter_margin``). A bucket of more than
    ``max_bucket`` documents (pages that share little but a site's furniture:
    on 100,000 uncleaned generated pages a few such buckets made 13 of the
    18 million candidate pairs) pairs each of its documents with its first 16
    only: near copies of one story share most buckets, so they still meet.

    Length-aware containment (``edit_budget``): an edit removes about the same
    number of shingles whatever the length of the text (a dropped sentence
    ~ its word count + k - 1, a substituted word up to k), so a short, heavily
    edited copy misses a larger fraction of its shingles than a long one. A
    pair with containment below ``containment_threshold`` but at least
    ``containment_floor`` is still a duplicate when the smaller text misses at
    most ``edit_budget`` of its shingles; for texts longer than
    ``edit_budget / (1 - containment_threshold)`` shingles (250 by default)
    the rule adds nothing.

    Clusters (``clusters``): ``star`` (default) drops a document only as a
    duplicate of a survivor it is itself a verified duplicate of (its
    Jaccard or containment to that survivor passes the thresholds above).
    The members of a connected group that are not are split off and
    clustered again among themselves, with the same rule; so a short text
    contained in two unrelated pages never chains them together, and a
    document never goes as a copy of a page it only reaches through others.
    With ``survivor = "first_seen"`` a document is dropped as a duplicate of
    the first-seen kept document, among those added before it and connected
    to it, that it is a verified duplicate of. ``transitive``: connected
    components (each document verified against a neighbour, not
    necessarily against its survivor).

    Composite pages (``composite``): a page made of two or more documents
    that are not duplicates of each other (a digest, an aggregator page).
    Its parts are the documents verified as contained in it and smaller than
    it (for ``first_seen``: added before it); parts that are duplicates of
    each other count as one piece. It is composite when it has two or more
    pieces, their shingles together contain the page by the containment
    rule above (coverage: the share of the page's shingles found in a
    part) and no single piece does (that would make the page a copy of that
    piece with extras). Pages are judged smallest first, and a composite is
    never a part of a larger page. A composite never joins a cluster of
    non-composite documents, so each of its stories is clustered on its
    own; it is dropped (reason ``composite``, naming its parts) or, with
    ``composite = "keep"``, kept and flagged. A page from an index is not
    judged again: documents that arrive after it was exported are clustered
    with it as usual.
    """

    shingle_size: int = _opt(5, _positive, help="words per shingle (near-duplicate unit)")
    num_perm: int = _opt(128, _positive, help="MinHash signature length")
    threshold: float = _opt(
        0.2, _unit, help="LSH target Jaccard; bands/rows derived from it (candidates only)"
    )
    bands: int = _opt(0, _non_negative, help="LSH bands; 0 = derive from threshold (set with rows)")
    rows: int = _opt(0, _non_negative, help="LSH rows per band; 0 = derive from threshold")
    max_bucket: int = _opt(
        1000,
        _non_negative,
        help="an LSH bucket of more documents than this (page furniture shared by a site) pairs each "
        "only with its first 16 instead of with every other one (the run warns, counting them in "
        "report.json's capped_bucket_texts); 0 = no limit",
    )
    jaccard_threshold: float = _opt(0.7, _unit, help="verified 5-shingle Jaccard that makes a near duplicate")
    containment_threshold: float = _opt(
        0.8, _unit, help="verified |A∩B|/min(|A|,|B|) that makes a near duplicate (extra/missing paragraphs)"
    )
    containment_min_shingles: int = _opt(
        20, _non_negative, help="smaller text needs this many shingles for containment"
    )
    edit_budget: int = _opt(
        50,
        _non_negative,
        help="short texts: containment down to containment_floor when the smaller text misses at most this "
        "many shingles (about two dropped sentences); 0 = off",
    )
    containment_floor: float = _opt(0.7, _unit, help="lowest containment edit_budget may accept")
    prefilter_margin: float = _opt(
        0.15,
        _unit,
        help="skip a candidate whose signature-estimated Jaccard is this far below the least Jaccard an "
        "accepted pair of its two sizes can have (1 = verify every candidate)",
    )
    clusters: str = _opt(
        "star",
        _in("star", "transitive"),
        help="star: every dropped document is a verified duplicate of the survivor it names (no chains); "
        "transitive: connected components (a member may not resemble its survivor)",
    )
    composite: str = _opt(
        "drop",
        _in("drop", "keep"),
        help="a page made of two or more documents that are not duplicates of each other (a digest): drop it "
        "(reason composite, naming them) or keep it with metadata dedup_composite_of; its stories stay "
        "either way",
    )
    normalize_case: bool = _opt(True, help="case-fold before comparing")
    normalize_unicode: bool = _opt(True, help="Unicode NFKC before comparing")
    normalize_whitespace: bool = _opt(True, help="collapse whitespace for exact duplicates")
    survivor: str = _opt(
        "longest", _in(*POLICIES), help="longest | earliest | preferred_outlets | first_seen"
    )
    preferred_outlets: list[str] = attrs.field(
        factory=list,
        metadata={"help": "for survivor=preferred_outlets: best first (metadata key outlet_key)"},
    )
    date_key: str = _opt("date", help="metadata key with a date / ISO string (survivor=earliest)")
    outlet_key: str = _opt("outlet", help="metadata key with the outlet (survivor=preferred_outlets)")
    mode: str = _opt(
        "drop", _in("drop", "annotate"), help="drop duplicates, or keep all and annotate cluster/role"
    )
    story_grouping: bool = _opt(
        False, help="annotate a story id shared by texts with long verbatim runs in common"
    )
    story_shingle_size: int = _opt(8, _positive, help="words per story fingerprint shingle")
    story_window: int = _opt(
        4, _positive, help="winnowing window: runs >= shingle+window-1 words always match"
    )
    story_min_shared: int = _opt(
        5, _positive, help="shared fingerprints needed for the same story (~one 20-word verbatim run)"
    )
    story_max_df: int = _opt(50, _positive, help="fingerprints in more documents are stock phrases, ignored")
    minhash: str = _opt(
        "oph", _in("oph", "classic"), help="oph (one-permutation, fast) or classic (k permutations)"
    )
    keep_shingles: bool = _opt(
        True, help="keep shingle hashes in memory; false = re-read texts of LSH candidates"
    )
    shingle_memory_mb: float = _opt(
        256.0,
        _non_negative,
        help="most shingle hashes kept in memory (MB); past it they are dropped and the texts of LSH "
        "candidates re-read (a second pass over the corpus); 0 = no limit",
    )
    batch_size: int = _opt(512, _positive, help="documents hashed per numpy batch")
    index_path: str = _opt("", metadata=_PATH_OPTION, help="load this dedup index if it exists")
    save_index: str = _opt(
        "", metadata=_PATH_OPTION, help="save the dedup index here once every document has passed the stage"
    )
    seed: int = _opt(20261123, help="seed of every hash function (an index only works with its own seed)")

    def __attrs_post_init__(self) -> None:
        if (self.bands == 0) != (self.rows == 0):
            raise ValueError("set both bands and rows, or neither (0 = derive from threshold)")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.bands == 0 and not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be strictly between 0 and 1 when bands/rows are derived")

    def band_rows(self) -> tuple[int, int]:
        """(bands, rows): as given, or derived from ``threshold``."""
        if self.bands:
            return self.bands, self.rows
        return optimal_params(self.threshold, self.num_perm)


@attrs.frozen
class Decision:
    """What to do with one document.

    ``duplicate_of`` is the survivor's id (never a chain); ``similarity`` is the
    shingle-set Jaccard to the survivor (1.0 for exact), ``containment`` the
    containment to it. ``cluster_id`` is the survivor's id for every member of
    a cluster of size > 1. ``story_id`` (story grouping on) is the smallest id
    of the document's story group, its own id when alone.

    A composite page (see :class:`DedupOptions`) has ``composite_of``: the
    ids of the documents it contains, sorted, and ``coverage``: the share of
    its shingles found in them. With ``composite = "drop"`` it has
    ``method = "composite"`` and ``role = "composite"`` and no survivor.
    """

    doc_id: str
    keep: bool
    duplicate_of: str | None = None
    similarity: float | None = None
    method: str | None = None
    cluster_id: str | None = None
    role: str | None = None
    story_id: str | None = None
    containment: float | None = None
    composite_of: tuple[str, ...] | None = None
    coverage: float | None = None


#: The codes of :class:`Decisions`' role and method columns.
_ROLES: tuple[str | None, ...] = (None, "survivor", "duplicate", "composite")
_METHODS: tuple[str | None, ...] = (None, "exact", "near", "composite")
_ROLE_CODE = {name: code for code, name in enumerate(_ROLES)}
_METHOD_CODE = {name: code for code, name in enumerate(_METHODS)}


class Decisions(Mapping[str, Decision]):
    """Decisions as columns, one entry per listed document in row order: a
    mapping from document id to :class:`Decision`, each made when it is asked
    for. About 90 bytes an entry (two ids in :class:`StringColumn` s) against
    ~300 for a dict of :class:`Decision` objects: a sharded run's resolve lists
    every duplicate and survivor of the corpus at once."""

    def __init__(self, story: bool = False) -> None:
        self.ids = StringColumn()
        self.rows = array.array("q")  # the engine's rows (ascending)
        self.keep = array.array("b")
        self.role = array.array("b")  # codes into _ROLES
        self.method = array.array("b")  # codes into _METHODS
        self.targets = StringColumn()  # duplicate_of (and cluster_id of a duplicate), or None
        self.similarity = array.array("d")  # nan: None
        self.containment = array.array("d")
        self.composite: dict[int, tuple[tuple[str, ...], float]] = {}  # entry -> (composite_of, coverage)
        self.story: list[str] | None = [] if story else None
        self._index: dict[str, int] | None = None

    def add(
        self,
        row: int,
        doc_id: str,
        keep: bool,
        role: str | None = None,
        method: str | None = None,
        target: str | None = None,
        similarity: float | None = None,
        containment: float | None = None,
    ) -> int:
        """Append one entry; returns its position."""
        self.ids.append(doc_id)
        self.rows.append(row)
        self.keep.append(keep)
        self.role.append(_ROLE_CODE[role])
        self.method.append(_METHOD_CODE[method])
        self.targets.append(target)
        self.similarity.append(math.nan if similarity is None else similarity)
        self.containment.append(math.nan if containment is None else containment)
        self._index = None
        return len(self.ids) - 1

    def at(self, k: int) -> Decision:
        """The decision of entry ``k``."""
        doc_id, role, target = self.ids[k], _ROLES[self.role[k]], self.targets[k]
        sim, con = self.similarity[k], self.containment[k]
        composite = self.composite.get(k)
        return Decision(
            doc_id,
            bool(self.keep[k]),
            duplicate_of=target,
            similarity=None if math.isnan(sim) else sim,
            method=_METHODS[self.method[k]],
            cluster_id=target if role == "duplicate" else doc_id if role == "survivor" else None,
            role=role,
            story_id=None if self.story is None else self.story[k],
            containment=None if math.isnan(con) else con,
            composite_of=None if composite is None else composite[0],
            coverage=None if composite is None else composite[1],
        )

    def position(self, doc_id: str) -> int | None:
        """The entry of ``doc_id``, or None."""
        if self._index is None:
            self._index = {doc_id: k for k, doc_id in enumerate(self.ids)}
        return self._index.get(doc_id)

    def __getitem__(self, doc_id: str) -> Decision:
        k = self.position(doc_id)
        if k is None:
            raise KeyError(doc_id)
        return self.at(k)

    def get(self, doc_id: str, default: Any = None) -> Any:  # type: ignore[override]
        k = self.position(doc_id)
        return default if k is None else self.at(k)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def count(self, role: str) -> int:
        """How many entries have ``role``."""
        return self.role.tobytes().count(_ROLE_CODE[role])

    def rows_between(self, start: int, stop: int) -> Decisions:
        """The entries of rows ``start`` to ``stop`` (excluded), as a table of their own."""
        lo, hi = bisect.bisect_left(self.rows, start), bisect.bisect_left(self.rows, stop)
        part = Decisions(self.story is not None)
        part.ids, part.targets = self.ids[lo:hi], self.targets[lo:hi]
        for name in ("rows", "keep", "role", "method", "similarity", "containment"):
            setattr(part, name, getattr(self, name)[lo:hi])
        part.composite = {k - lo: v for k, v in self.composite.items() if lo <= k < hi}
        if self.story is not None:
            part.story = self.story[lo:hi]
        return part

    def as_dict(self) -> dict[str, Decision]:
        """Every decision, in id order."""
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        return {self.ids[k]: self.at(k) for k in order}

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if name != "_index"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self._index = None


_BatchResult = tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray, "list[np.ndarray] | None"]
#: ``texts_at(positions)``: ``(doc_id, text)`` of the documents at those positions (see ``resolve``).
TextsAt = Callable[[list[int]], Iterable[tuple[str, str]]]
#: ``candidate_pairs(sigs, bands, rows, min_new=0, max_bucket=0, stats=None)``: as
#: :func:`lsh.candidate_pairs` (``stats``: a :class:`lsh.BucketStats` to fill).
CandidatePairs = Callable[..., np.ndarray]


class Submitter(Protocol):
    """Runs ``fn(*args)`` somewhere (a process pool, Ray tasks: ``ctx.executor``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future[Any]: ...


_HASHERS: dict[tuple, tuple[ShingleHasher, MinHasher]] = {}


def _hashers(params: tuple) -> tuple[ShingleHasher, MinHasher]:
    """Hashers for a parameter tuple, built once per process."""
    if params not in _HASHERS:
        seed, k, whitespace, num_perm, scheme = params[:5]
        sh = ShingleHasher(seed, k)
        sh.whitespace = whitespace
        _HASHERS[params] = (sh, MinHasher(num_perm, seed, scheme))
    return _HASHERS[params]


def _hash_batch(params: tuple, texts: list[str]) -> _BatchResult:
    """Exact keys, shingle sets (concatenated + offsets), signatures and story
    fingerprints of a batch of normalised texts. Module-level so worker
    processes can run it."""
    sh, mh = _hashers(params)
    tok = sh.tokens(texts)
    sets, off = sh.shingle_sets(tok)
    sigs = mh.signatures(sets, off)
    story, story_k, story_w = params[5:]
    fps = winnow_batch(sh, tok, story_k, story_w) if story else None
    return tok.keys, sets, off, sigs, fps


def _normalised_and_ranked(o: DedupOptions, text: str, metadata: Mapping[str, Any] | None) -> tuple[str, int]:
    """A document's text as it is hashed, and its rank under the survivor policy."""
    # whitespace never changes word shingles; the exact key (computed per
    # batch) collapses it when normalize_whitespace is on
    norm = normalize_text(text, case=o.normalize_case, unicode=o.normalize_unicode, whitespace=False)
    rank = policy_rank(
        o.survivor,
        length=len(text),
        metadata=metadata,
        date_key=o.date_key,
        outlet_key=o.outlet_key,
        preferred_outlets=o.preferred_outlets,
    )
    return norm, rank


def hash_shard(
    options: DedupOptions, docs: Iterable[tuple[str, str, Mapping[str, Any] | None]]
) -> ShardHashes:
    """What :meth:`DedupEngine.add` computes for each ``(id, text, metadata)`` but
    the shingle sets, for :meth:`DedupEngine.add_shards` in another process (a
    sharded run hashes each shard in its own task)."""
    o = options
    params = DedupEngine.hash_params(o)
    ids: list[str] = []
    ranks: list[int] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    fingerprints: list[np.ndarray] | None = [] if o.story_grouping else None
    texts: list[str] = []
    chars = 0

    def flush() -> None:
        keys, sets, off, sigs, fps = _hash_batch(params, texts)
        docs = np.arange(len(texts))
        key_bytes = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        parts.append((key_bytes, sigs, np.diff(off).astype(np.int64), _bottom_k(sets, off, docs)))
        if fingerprints is not None and fps is not None:
            fingerprints.extend(fps)
        texts.clear()

    for doc_id, text, metadata in docs:
        norm, rank = _normalised_and_ranked(o, text, metadata)
        ids.append(doc_id)
        ranks.append(rank)
        texts.append(norm)
        chars += len(norm)
        if len(texts) >= o.batch_size or chars >= _BATCH_CHARS:
            flush()
            chars = 0
    if texts:
        flush()
    columns = [np.concatenate(c) for c in zip(*parts)] if parts else _no_columns(o.num_perm)
    return ShardHashes(ids, np.array(ranks, dtype=np.int64), *columns, fingerprints=fingerprints)


def _no_columns(num_perm: int) -> list[np.ndarray]:
    """The columns of :class:`ShardHashes` for a shard with no document."""
    return [
        np.zeros((0, KEY_BYTES), dtype=np.uint8),
        np.zeros((0, num_perm), dtype=np.uint32),
        np.zeros(0, dtype=np.int64),
        np.zeros((0, _BOTTOM), dtype=np.uint32),
    ]


# Header fields that must match between an index and the options using it.
_COMPAT = (
    "shingle_size",
    "num_perm",
    "seed",
    "minhash",
    "normalize_case",
    "normalize_unicode",
    "normalize_whitespace",
)
_STORY_COMPAT = ("story_shingle_size", "story_window")


def accepted(o: DedupOptions, jac: np.ndarray, con: np.ndarray, small: np.ndarray) -> np.ndarray:
    """The duplicate rule for verified (Jaccard, containment, smaller set size)."""
    contained = con >= o.containment_threshold
    if o.edit_budget:
        missing = np.rint((1.0 - con) * small)  # shingles of the smaller text the other lacks
        contained |= (con >= o.containment_floor) & (missing <= o.edit_budget)
    return (jac >= o.jaccard_threshold) | (contained & (small >= o.containment_min_shingles))


def shingler(o: DedupOptions) -> ShingleHasher:
    """The shingle hasher the engine uses with options ``o`` (built once per process)."""
    return _hashers(DedupEngine.hash_params(o))[0]


def plausible(
    o: DedupOptions, sig_a: np.ndarray, sig_b: np.ndarray, size_a: np.ndarray, size_b: np.ndarray
) -> np.ndarray:
    """Which candidate pairs (their signatures and shingle-set sizes, row by row) can
    plausibly pass verification (see :meth:`DedupEngine._prefilter`)."""
    f = min(o.containment_threshold, o.containment_floor) if o.edit_budget else o.containment_threshold
    est = np.count_nonzero(sig_a == sig_b, axis=1) / o.num_perm
    s, g = np.minimum(size_a, size_b).astype(float), np.maximum(size_a, size_b).astype(float)
    need_con = np.where(s >= max(o.containment_min_shingles, 1), f * s / np.maximum(s + g - f * s, 1.0), 1.0)
    return est >= np.minimum(need_con, o.jaccard_threshold) - o.prefilter_margin


def normalised_batches(o: DedupOptions, texts: Iterable[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """Batches of (row, text normalised as the engine shingles it) of ``texts``."""
    batch: list[tuple[int, str]] = []
    for r, text in texts:
        batch.append(
            (r, normalize_text(text, case=o.normalize_case, unicode=o.normalize_unicode, whitespace=False))
        )
        if len(batch) >= o.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def measure_streamed(
    sh: ShingleHasher,
    store: ShingleStore,
    pairs: np.ndarray,
    n: int,
    batches_of: Callable[[np.ndarray], Iterable[list[tuple[int, str]]]],
    said: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Jaccard, containment, smaller set size) of row pairs (rows < ``n``) whose sets
    ``store`` may not hold: ``batches_of(rows)`` gives the missing rows' normalised
    texts (sorted rows, read once, in batches); each pair is measured as soon as both
    its sets are there, and a set is forgotten once its last pair is measured. Memory
    is what the pairs still open at a point of the pass need (duplicates sit close
    together in a stream), not every candidate's set at once. ``said(done, total)``
    hears how many rows were read."""
    m = pairs.shape[0]
    jac, con, small = np.zeros(m), np.zeros(m), np.zeros(m, dtype=np.int64)
    done = store.held(pairs.ravel()).reshape(-1, 2).all(axis=1)
    if done.any():
        jac[done], con[done], small[done] = pair_similarities(store, pairs[done])
    # pending pairs by endpoint (sorted), and how many each fetched row still has open
    pend = np.flatnonzero(~done)
    ends = pairs[pend].ravel()
    order = np.argsort(ends, kind="stable")
    ends_sorted, pair_of = ends[order], np.repeat(pend, 2)[order]
    fetch = ends[~store.held(ends)]
    open_count = np.bincount(fetch, minlength=n)
    todo = np.unique(fetch)
    fetched = np.zeros(n, dtype=bool)

    def hash_batch(batch: list[tuple[int, str]]) -> None:
        rows = np.array([r for r, _ in batch], dtype=np.int64)
        sets, off = sh.shingle_sets(sh.tokens([t for _, t in batch], keys=False))
        store.put(rows, sets, off, np.arange(rows.size))
        fetched[rows] = True
        lo = np.searchsorted(ends_sorted, rows, "left")
        hi = np.searchsorted(ends_sorted, rows, "right")
        ready = np.unique(pair_of[concat_ranges(lo, hi - lo)])
        ready = ready[~done[ready]]
        ready = ready[store.held(pairs[ready].ravel()).reshape(-1, 2).all(axis=1)]
        if not ready.size:
            return
        jac[ready], con[ready], small[ready] = pair_similarities(store, pairs[ready])
        done[ready] = True
        closed = pairs[ready].ravel()
        closed = closed[fetched[closed]]
        np.subtract.at(open_count, closed, 1)
        free = np.unique(closed[open_count[closed] == 0])
        store.drop(free)
        fetched[free] = False

    total, done_rows = len(todo), 0
    if said is not None:
        said(0, total)
    for batch in batches_of(todo):
        hash_batch(batch)
        done_rows += len(batch)
        if said is not None:
            said(done_rows, total)
    store.drop(np.flatnonzero(fetched))
    return jac, con, small


class _Edges:
    """Verified edges (rows a < b) with their Jaccard and containment, in
    arrays, found by code: 16 bytes an edge besides the edge and its measures (a
    dict of the codes held ~100: a million-document run has 400,000 edges)."""

    def __init__(self, n: int, pairs: np.ndarray, jac: np.ndarray, con: np.ndarray) -> None:
        self.n = max(n, 1)
        self.pairs, self.jac, self.con = pairs, jac, con
        codes = pairs[:, 0] * self.n + pairs[:, 1]
        self._order = np.argsort(codes, kind="stable")  # the edges by code
        # the codes ascending, as machine integers that bisect reads without numpy's per-call cost
        self._codes = array.array("q", codes[self._order].astype(np.int64).tobytes())

    def __len__(self) -> int:
        return self.pairs.shape[0]

    def get(self, a: int, b: int) -> tuple[float, float] | None:
        """(Jaccard, containment) of the edge a < b, or None."""
        code = a * self.n + b
        k = bisect.bisect_left(self._codes, code)
        if k == len(self._codes) or self._codes[k] != code:
            return None
        i = int(self._order[k])
        return (float(self.jac[i]), float(self.con[i]))

    def has(self, pairs: np.ndarray) -> np.ndarray:
        """Which of ``pairs`` (rows a < b) are edges."""
        known = np.frombuffer(self._codes, dtype=np.int64)
        if not known.size:
            return np.zeros(pairs.shape[0], dtype=bool)
        codes = pairs[:, 0] * self.n + pairs[:, 1]
        return known[np.minimum(np.searchsorted(known, codes), known.size - 1)] == codes


class _PairCache:
    """(Jaccard, containment, duplicate?) of the row pairs a resolve measured besides
    its verified edges (the composite search, star clusters), for the rest of it:
    columns sorted by pair, ~25 bytes a pair instead of ~280 for a dict of tuples
    (pages that share text make hundreds of thousands of such pairs in a million
    documents), and the latest pairs in a dict until there are many of them."""

    #: pairs held in the dict before they join the sorted columns
    _PENDING = 1 << 16

    def __init__(self, n: int) -> None:
        self.n = max(n, 1)
        self._codes = array.array("q")  # a * n + b, ascending
        self._jac = array.array("d")
        self._con = array.array("d")
        self._ok = array.array("b")
        self._new: dict[int, tuple[float, float, bool]] = {}

    def __len__(self) -> int:
        return len(self._codes) + len(self._new)

    def get(self, a: int, b: int) -> tuple[float, float, bool] | None:
        """What was measured of the pair a < b, or None."""
        code = a * self.n + b
        found = self._new.get(code)
        if found is None and self._codes:
            i = bisect.bisect_left(self._codes, code)
            if i < len(self._codes) and self._codes[i] == code:
                found = (self._jac[i], self._con[i], bool(self._ok[i]))
        return found

    def lookup(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(known?, Jaccard, containment, duplicate?) of each of ``pairs`` (rows a < b), at once."""
        codes = pairs[:, 0] * self.n + pairs[:, 1]
        known = np.zeros(codes.size, dtype=bool)
        jac, con, ok = np.zeros(codes.size), np.zeros(codes.size), np.zeros(codes.size, dtype=bool)
        if self._codes and codes.size:
            main = np.frombuffer(self._codes, dtype=np.int64)
            at = np.minimum(np.searchsorted(main, codes), main.size - 1)
            known = main[at] == codes
            at = at[known]
            jac[known] = np.frombuffer(self._jac, dtype=np.float64)[at]
            con[known] = np.frombuffer(self._con, dtype=np.float64)[at]
            ok[known] = np.frombuffer(self._ok, dtype=np.int8)[at] != 0
        if self._new:
            for k, code in enumerate(codes.tolist()):
                found = self._new.get(code)
                if found is not None:
                    known[k] = True
                    jac[k], con[k], ok[k] = found
        return known, jac, con, ok

    def put(self, pairs: np.ndarray, jac: np.ndarray, con: np.ndarray, ok: np.ndarray) -> None:
        """Remember the measures of ``pairs`` (rows a < b, none of them known yet)."""
        codes = (pairs[:, 0] * self.n + pairs[:, 1]).tolist()
        self._new.update(zip(codes, zip(jac.tolist(), con.tolist(), ok.astype(bool).tolist())))
        if len(self._new) >= self._PENDING:
            self._merge()

    def _merge(self) -> None:
        new = np.fromiter(self._new, dtype=np.int64, count=len(self._new))
        measures = list(self._new.values())
        codes = np.concatenate((np.frombuffer(self._codes, dtype=np.int64), new))
        columns = [
            np.concatenate((np.frombuffer(old, dtype=dtype), np.array([m[k] for m in measures], dtype=dtype)))
            for k, (old, dtype) in enumerate(
                ((self._jac, np.float64), (self._con, np.float64), (self._ok, np.int8))
            )
        ]
        order = np.argsort(codes, kind="stable")
        self._codes = array.array("q", codes[order].tobytes())
        self._jac, self._con, self._ok = (
            array.array(kind, column[order].tobytes()) for kind, column in zip("ddb", columns)
        )
        self._new = {}


def _bottom_k(sets: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """The ``_BOTTOM`` smallest values of each set ``docs`` (sorted sets, concatenated
    along ``offsets``), one row each; a smaller set repeats its largest value, an empty
    one gives zeros (it is never looked up)."""
    start = offsets[docs].astype(np.int64)
    count = (offsets[docs + 1] - offsets[docs]).astype(np.int64)
    if not sets.size:
        return np.zeros((start.size, _BOTTOM), dtype=np.uint32)
    at = start[:, None] + np.minimum(np.arange(_BOTTOM)[None, :], np.maximum(count - 1, 0)[:, None])
    out = sets[np.minimum(at, sets.size - 1)].astype(np.uint32)
    out[count == 0] = 0
    return out


def _rare_values(values: np.ndarray, most: int) -> np.ndarray:
    """A mask of the entries of sorted ``values`` whose value is there ``most`` times or
    fewer. Without an array of where each value starts (8 bytes a distinct value, and as
    much again for their counts: the composite search's table of a million documents
    held ~90 MB of them): a run of more than ``most`` equal values has an entry ``j``
    with ``values[j] == values[j + most]``, and an entry is in such a run when one of
    the ``most + 1`` entries up to it is such a ``j`` (a window count by a running sum)."""
    n = values.size
    if n <= most:
        return np.ones(n, dtype=bool)
    starts_long = values[most:] == values[:-most]  # j: values[j..j+most] are all equal
    seen = np.empty(n + 1, dtype=np.int32 if n < 2**31 else np.int64)
    seen[0] = 0
    np.cumsum(starts_long, out=seen[1 : n - most + 1])
    seen[n - most + 1 :] = seen[n - most]  # no such j past the end
    # entry i: such j's in [i - most, i] = seen[i + 1] - seen[max(i - most, 0)]
    before = np.zeros(n, dtype=seen.dtype)
    before[most + 1 :] = seen[1 : n - most]
    return seen[1:] == before


def candidate_parts(
    o: DedupOptions,
    edges: np.ndarray,
    jac: np.ndarray,
    con: np.ndarray,
    sizes: np.ndarray,
    n_old: int = 0,
    composite: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(page, part) of the verified ``edges`` ((k, 2) rows, their Jaccard and containment,
    ``sizes`` their ends' set sizes) that make a composite page's candidate parts: the
    smaller end of an edge of unequal sizes (with ``first_seen``, added before the
    larger), of a page from row ``n_old`` on and not one of ``composite``; none of a page
    that one of them is a copy of (Jaccard-similar, or the part holds nearly all of it).
    Sorted by page, then part."""
    a, b = edges[:, 0], edges[:, 1]
    size_a, size_b = sizes[:, 0], sizes[:, 1]
    a_big = size_a > size_b
    page, part = np.where(a_big, a, b), np.where(a_big, b, a)
    page_size, part_size = np.where(a_big, size_a, size_b), np.where(a_big, size_b, size_a)
    sel = (size_a != size_b) & (page >= n_old)  # an indexed page is not judged again
    if o.survivor == "first_seen":
        sel &= part < page
    if composite is not None:
        sel &= ~np.isin(part, composite)
    page, part, page_size, part_size = page[sel], part[sel], page_size[sel], part_size[sel]
    copy = accepted(o, jac[sel], con[sel] * part_size / np.maximum(page_size, 1), page_size)
    keep = ~np.isin(page, page[copy])
    page, part = page[keep], part[keep]
    order = np.lexsort((part, page))
    return page[order], part[order]


def _adjacency(pairs: np.ndarray, n: int) -> Callable[[int], list[int]]:
    """Row -> its neighbours along ``pairs`` (compressed adjacency lists)."""
    ends = np.concatenate((pairs[:, 0], pairs[:, 1]))
    nbr = np.concatenate((pairs[:, 1], pairs[:, 0]))
    order = np.argsort(ends, kind="stable")
    ends, nbr = ends[order], nbr[order]
    # machine integers: a list of a million Python ints would be ~40 MB
    start = array.array("q", np.searchsorted(ends, np.arange(n + 1)).tobytes())
    return lambda x: nbr[start[x] : start[x + 1]].tolist()


class DedupEngine:
    """Deduplicates a stream of documents; see the module docstring."""

    #: With ``workers`` > 1 the first batches are still hashed in this process:
    #: starting helper processes and shipping batches to them costs more than
    #: it saves on small inputs (the 608-document dev set: 44 ms against 29).
    inline_batches = 4

    def __init__(
        self,
        options: DedupOptions | None = None,
        *,
        workers: int = 1,
        executor: Submitter | None = None,
        candidate_pairs: CandidatePairs | None = None,
        progress: Progress | None = None,
    ) -> None:
        """``workers`` > 1 hashes batches on that many cores: ``workers - 1``
        helper processes, and this process whenever they are all busy
        (results never depend on it). ``executor`` (e.g. Ray tasks) hashes
        every batch instead, up to ``2 * workers`` batches in flight. ``candidate_pairs`` replaces
        :func:`lsh.candidate_pairs` (same arguments, same result), e.g. with
        a distributed one. ``progress`` is told each phase of :meth:`resolve`
        as it starts (and how far a long one is, per batch)."""
        self.options = options = options or DedupOptions()
        self._progress = progress
        self.workers = max(1, int(workers))
        self._executor = executor
        self._candidate_pairs = candidate_pairs or candidate_pairs_local
        self.bands, self.rows = options.band_rows()
        self._hash_params = self.hash_params(options)
        self._sh, _ = _hashers(self._hash_params)  # shingling here; MinHash runs in _hash_batch
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._stop_pool: weakref.finalize | None = None  # shuts the pool down, once
        self._inflight: collections.deque[tuple[list[int], concurrent.futures.Future[_BatchResult]]] = (
            collections.deque()
        )
        self._pending: list[tuple[int, str]] = []  # (row, normalised text) awaiting batch hashing
        self._pending_chars = 0
        self._batches = 0  # batches flushed so far
        self._ids = StringColumn()  # a document's id by row
        #: what bucketing saw in the last resolve (None: no resolve under way)
        self._buckets: BucketStats | None = None
        self._row: dict[str, int] = {}
        self._exact: list[bytes] = []
        self._exact_first: dict[bytes, int] = {}
        # signatures of representatives only (exact copies share theirs): one
        # slot per representative, in row order, grown by doubling
        self._sigs = np.empty((1024, options.num_perm), dtype=np.uint32)
        self._slot_rows = np.zeros(1024, dtype=np.int64)  # slot -> row
        self._n_slots = 0
        # per-row columns, grown by doubling
        self._nsh = np.zeros(1024, dtype=np.int64)  # shingle-set size
        self._rep = np.zeros(1024, dtype=np.int64)  # row of the exact representative
        self._slot = np.zeros(1024, dtype=np.int64)  # signature slot (the representative's)
        # the _BOTTOM smallest shingle hashes of each representative (sets are sorted): finds
        # the documents a page contains, which LSH misses when the page is much larger
        self._bottom = np.zeros((1024, _BOTTOM), dtype=np.uint32)
        self._texts: Callable[[], Iterable[tuple[str, str]]] | None = None  # during resolve()
        self._texts_at: TextsAt | None = None  # likewise
        self._store = ShingleStore()  # shingle sets held in memory (exact copies share a range)
        # sets are kept while they fit the budget; past it they are dropped and
        # re-derived for LSH candidates from the texts in resolve(texts=...)
        self._keeping = options.keep_shingles
        self._fps: list[np.ndarray] = []
        # per-row columns (machine integers, 8 or 1 bytes a row instead of Python objects)
        self._rank = array.array("q")
        self._seq = array.array("q")
        self._kept = array.array("b")  # for resolved rows: exported as survivor/singleton
        self._story: list[str] = []  # story label of each resolved row (story grouping on)
        self._n_old = 0  # rows < _n_old are resolved (loaded from an index or an earlier resolve())
        self._next_seq = 0
        self._uf = UnionFind()
        self._story_has_fps = options.story_grouping
        self._edge_sim = _Edges(0, np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0))
        self._pair_sim = _PairCache(0)
        self._links_now = _NO_EDGES  # during resolve(): the edges clusters follow
        self._composite: set[int] = set()  # rows judged composite pages (and their exact copies)
        # add_shards(): the signatures on disk, and the candidate pairs they make (slots)
        self._scratch: SignatureScratch | None = None
        self._shard_pairs: np.ndarray | None = None
        self._from_shards = False  # rows added by add_shards(): no id map, texts re-read by position
        #: add_shards() with the pair round's verified pairs: (edges, Jaccard, containment,
        #: distinct candidate pairs, pairs past the prefilter)
        self._verified: tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None = None
        #: add_shards() with the part search's finds: (pages a found document is a copy of,
        #: and the (page, part) rows of the documents found in pages)
        self._found_parts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: add_rows(): the corpus row of each row, and how many documents the corpus has
        self._corpus_rows: np.ndarray | None = None
        self._corpus_size: int | None = None
        self.stats: dict[str, Any] = {}
        if options.index_path and Path(options.index_path).exists():
            self._load_into(options.index_path)

    @property
    def ids(self) -> Sequence[str]:
        """The documents' ids, in the order they were added (rows)."""
        return self._ids

    @staticmethod
    def hash_params(options: DedupOptions) -> tuple:
        """The options :func:`_hash_batch` hashes with."""
        return (
            options.seed,
            options.shingle_size,
            options.normalize_whitespace,
            options.num_perm,
            options.minhash,
            options.story_grouping,
            options.story_shingle_size,
            options.story_window,
        )

    # ------------------------------------------------------------------ fit
    def add(self, doc_id: str, text: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Register one document (streaming; the text is not kept).

        Hashing runs in batches of ``batch_size`` documents (numpy works per
        batch, not per token); ``resolve()`` flushes the last batch.
        """
        if self._from_shards:
            raise ValueError("add() on an engine filled by add_shards(): it resolves those documents only")
        if doc_id in self._row:
            raise ValueError(f"duplicate document id {doc_id!r}")
        o = self.options
        norm, rank = _normalised_and_ranked(o, text, metadata)
        row = len(self._ids)
        self._append(doc_id, b"", EMPTY_U32)  # the exact key is set when the batch is hashed
        self._pending.append((row, norm))
        self._pending_chars += len(norm)
        self._rank.append(rank)
        self._seq.append(self._next_seq)
        self._next_seq += 1
        self._kept.append(True)
        # bounded batches: numpy temporaries are ~40 bytes per character of a batch
        if len(self._pending) >= o.batch_size or self._pending_chars >= _BATCH_CHARS:
            self._flush()

    def add_shards(
        self,
        shards: Iterable[ShardHashes],
        scratch_dir: str | None = None,
        finds: Sequence[BucketFinds] | Sequence[VerifiedPairs] | None = None,
        found_parts: Sequence[FoundParts] | None = None,
    ) -> list[int]:
        """Register every document of ``shards`` (:func:`hash_shard` of each shard, in
        shard order; iterated twice), the same rows as :meth:`add` on each, and
        return how many documents each shard has.

        ``finds``: what each task of the pair round verified
        (:func:`pairs.verify_partition`: a sharded run's), or what each partition of
        the shards' band and exact keys found (:func:`buckets.find_in_partition`: the
        pairs are then prefiltered and verified here); without it, the keys are
        bucketed here in one partition (every shard's keys in memory at once: for
        small inputs). Memory holds a few columns a document; when the pairs are
        verified here, the signatures go to a folder in ``scratch_dir`` (default:
        the system's temporary folder), removed by :meth:`resolve` or
        :meth:`close`. No shingle set is held, so :meth:`resolve` needs
        ``texts_at`` to re-read the texts it measures.
        ``found_parts``: what each task of the part search found
        (:func:`parts.search_partition`): composite pages' parts are then not looked
        up here, and the shards' smallest hashes are not needed.
        Only for a new engine (no index, nothing added)."""
        if self._ids or self._n_old:
            raise ValueError("add_shards() needs an engine with no documents")
        verified = [found for found in finds or () if isinstance(found, VerifiedPairs)]
        if verified and len(verified) != len(finds or ()):
            raise ValueError("add_shards() takes the bucketing round's finds or the pair round's, not both")
        if finds is None:
            pieces = (cut_buckets(shard, self.bands, self.rows, 1)[0] for shard in shards)
            finds = [find_in_partition(pieces, self.options.max_bucket)]
        counts: list[int] = []
        columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        fps: list[np.ndarray] = []
        for shard in shards:
            counts.append(len(shard))
            self._ids.extend(shard.ids)
            columns.append((shard.ranks, shard.sizes, shard.bottom))
            if self._story_has_fps:
                fps.extend(shard.fingerprints or ())
        n = len(self._ids)
        if any(found.total != n for found in finds):
            raise ValueError(
                f"the partitions' finds are for {sorted({f.total for f in finds})} documents, not {n}"
            )
        if not columns:
            _, _, no_sizes, no_bottom = _no_columns(self.options.num_perm)
            columns.append((np.zeros(0, dtype=np.int64), no_sizes, no_bottom))
        ranks, sizes, bottom = (np.concatenate(c) for c in zip(*columns))
        del columns
        rep, slot_of, reps = self._fill_columns(n, ranks, sizes, bottom, finds, verified, found_parts, fps)
        if verified:
            return counts
        scratch = SignatureScratch(reps.size, self.options.num_perm, scratch_dir)
        self._scratch = scratch
        start = 0
        for shard in shards:  # the representatives' signatures, in row (slot) order
            own = rep[start : start + len(shard)] == np.arange(start, start + len(shard))
            scratch.append(shard.signatures[own])
            start += len(shard)
        scratch.finish()
        # the partitions' pairs are of rows (representatives only): as slots, in the same order
        codes = sorted_unique(np.concatenate([found.codes for found in finds]))  # type: ignore[union-attr]
        self._shard_pairs = np.stack((slot_of[codes // max(n, 1)], slot_of[codes % max(n, 1)]), axis=1)
        return counts

    def add_rows(
        self,
        total: int,
        rows: np.ndarray,
        ids: Sequence[str],
        ranks: np.ndarray,
        sizes: np.ndarray,
        verified: Sequence[VerifiedPairs],
        found_parts: Sequence[FoundParts],
    ) -> None:
        """Register the documents at ``rows`` (sorted, distinct) of a sharded corpus of
        ``total`` documents, with their ids, ranks and set sizes: every document that
        what the pair round verified and the part search found names (an edge's ends,
        an exact copy and its original, a page and the parts found in it, a text of
        a capped bucket). Any other document is alone and kept, and gets no decision
        (no story grouping here: it groups every document). The engine's rows are
        positions in ``rows``; :meth:`resolve_columns` asks ``texts_at`` for corpus
        positions and its decisions name them, as after :meth:`add_shards`.
        Only for a new engine (no index, nothing added)."""
        if self._ids or self._n_old:
            raise ValueError("add_rows() needs an engine with no documents")
        if self.options.story_grouping:
            raise ValueError("add_rows() cannot group stories: they need every document (add_shards)")
        if not verified:
            raise ValueError("add_rows() needs what the pair round verified (one list of pairs per task)")
        named: list[VerifiedPairs | FoundParts] = [*verified, *found_parts]
        if any(found.total != total for found in named):
            raise ValueError(f"the finds are for {sorted({f.total for f in named})} documents, not {total}")
        rows = np.asarray(rows, dtype=np.int64)
        n = rows.size
        if len(ids) != n or len(ranks) != n or len(sizes) != n:
            raise ValueError(f"{n} rows, but {len(ids)} ids, {len(ranks)} ranks and {len(sizes)} sizes")

        def local(corpus_rows: np.ndarray) -> np.ndarray:
            at = np.searchsorted(rows, corpus_rows)
            if at.size and (at.max() >= n or (rows[at] != corpus_rows).any()):
                raise ValueError("the finds name documents that rows leaves out")
            return at

        mine = [
            attrs.evolve(
                found,
                total=n,
                edges=local(found.edges.ravel()).reshape(-1, 2),
                capped=local(found.capped),
                copies=local(found.copies),
                firsts=local(found.firsts),
            )
            for found in verified
        ]
        parts = [
            attrs.evolve(
                found, total=n, copied=local(found.copied), pages=local(found.pages), parts=local(found.parts)
            )
            for found in found_parts
        ]
        self._ids.extend(ids)
        no_bottom = np.zeros((0, _BOTTOM), dtype=np.uint32)  # the part search has used them
        self._fill_columns(n, np.asarray(ranks), np.asarray(sizes), no_bottom, mine, mine, parts, [])
        self._corpus_rows, self._corpus_size = rows, int(total)

    def _fill_columns(
        self,
        n: int,
        ranks: np.ndarray,
        sizes: np.ndarray,
        bottom: np.ndarray,
        finds: Sequence[BucketFinds] | Sequence[VerifiedPairs],
        verified: Sequence[VerifiedPairs],
        found_parts: Sequence[FoundParts] | None,
        fps: list[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The engine's columns for ``n`` rows (their ids added) from what the rounds
        found (``add_shards``, ``add_rows``): (the representative of each row, each
        row's signature slot, the representatives)."""
        rep = np.arange(n, dtype=np.int64)
        for found in finds:  # each exact copy points at the first row of its text
            rep[found.copies] = found.firsts
        reps = np.flatnonzero(rep == np.arange(n))
        slot_of = np.zeros(n, dtype=np.int64)
        slot_of[reps] = np.arange(reps.size)
        self._rep, self._slot, self._slot_rows, self._n_slots = rep, slot_of[rep], reps, int(reps.size)
        self._nsh, self._bottom = sizes.astype(np.int64), bottom.astype(np.uint32)
        self._sigs = np.zeros((0, self.options.num_perm), dtype=np.uint32)  # on disk
        self._rank = array.array("q", ranks.astype(np.int64).tobytes())
        self._seq = array.array("q", np.arange(n, dtype=np.int64).tobytes())
        self._next_seq = n
        self._kept = array.array("b", b"\x01" * n)
        self._uf.grow(n)
        self._store.grow(n)
        self._keeping = False
        if found_parts is not None:
            if any(found.total != n for found in found_parts):
                raise ValueError(
                    f"the part search's finds are for {sorted({f.total for f in found_parts})} documents, not {n}"
                )
            self._found_parts = (
                sorted_unique(np.concatenate([_NO_ROWS, *(f.copied for f in found_parts)])),
                np.concatenate([_NO_ROWS, *(f.pages for f in found_parts)]),
                np.concatenate([_NO_ROWS, *(f.parts for f in found_parts)]),
            )
        if self._story_has_fps:
            self._fps = [fps[r] for r in rep.tolist()]  # exact copies share their representative's
        self._from_shards = True
        self._buckets = BucketStats(int(reps.size))
        self._buckets.largest = max((found.largest for found in finds), default=0)
        self._buckets.capped[slot_of[np.concatenate([_NO_ROWS, *(found.capped for found in finds)])]] = True
        if verified:
            self._verified = (
                np.concatenate([found.edges for found in verified]).reshape(-1, 2),
                np.concatenate([found.jaccard for found in verified]),
                np.concatenate([found.containment for found in verified]),
                sum(found.candidates for found in verified),
                sum(found.checked for found in verified),
            )
        return rep, slot_of, reps

    def _flush(self) -> None:
        """Hash the pending batch (in a worker process when ``workers`` > 1)."""
        if not self._pending:
            return
        rows = [r for r, _ in self._pending]
        texts = [t for _, t in self._pending]
        self._uf.grow(len(self._ids))  # once a batch, not per row (_append leaves it)
        self._pending = []
        self._pending_chars = 0
        self._batches += 1
        if self._executor is None and (self.workers == 1 or self._batches <= self.inline_batches):
            self._apply(rows, _hash_batch(self._hash_params, texts))
            return
        fut: concurrent.futures.Future[_BatchResult]
        if self._executor is not None:
            fut = self._executor.submit(_hash_batch, self._hash_params, texts)
        else:
            helpers = (
                self.workers - 1
            )  # this process is the other worker: it hashes when the helpers are busy
            if self._pool is None:
                context = multiprocessing.get_context()
                # its processes end with this one (a killed run leaves none behind)
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=helpers, mp_context=context, initializer=pool_initializer(context)
                )
                # stopped, and its processes waited for, when the engine goes too (an interrupted
                # run never resolves): a pool left to the garbage collector stops from another
                # thread, which races the interpreter's exit (an OSError printed at exit)
                self._stop_pool = weakref.finalize(self, stop_pool, self._pool, cancel=True)
            if sum(not f.done() for _, f in self._inflight) >= helpers:
                fut = concurrent.futures.Future()
                fut.set_result(_hash_batch(self._hash_params, texts))
            else:
                fut = self._pool.submit(_hash_batch, self._hash_params, texts)
        self._inflight.append((rows, fut))
        # results are applied in row order: finished ones at once, and the
        # queue stays bounded (memory)
        while self._inflight and (self._inflight[0][1].done() or len(self._inflight) > 2 * self.workers):
            done_rows, done = self._inflight.popleft()
            self._apply(done_rows, done.result())

    def _drain(self) -> None:
        self._flush()
        while self._inflight:
            rows, fut = self._inflight.popleft()
            self._apply(rows, fut.result())
        self._shutdown_pool()

    def close(self) -> None:
        """Stop the helper processes of an engine that will not be resolved
        (added documents stay unresolved), and remove its scratch folder."""
        for _, fut in self._inflight:
            fut.cancel()
        self._inflight.clear()
        self._shutdown_pool()
        if self._scratch is not None:
            self._scratch.close()

    def _shutdown_pool(self) -> None:
        """Stop the hashing processes (cancelling what has not started), and wait until they are gone."""
        if self._stop_pool is not None:
            self._stop_pool()
        self._stop_pool = None
        self._pool = None

    def _apply(self, rows: list[int], result: _BatchResult) -> None:
        """Store one hashed batch; rows ascending, so the first occurrence of a
        text becomes its representative whatever process hashed it."""
        keys, sets, off, sigs, fps = result
        exact, exact_first, rep = self._exact, self._exact_first, self._rep
        firsts = []
        for r, key in zip(rows, keys):
            exact[r] = key
            firsts.append(exact_first.setdefault(key, r))
        row_arr = np.asarray(rows, dtype=np.int64)
        first_arr = np.asarray(firsts, dtype=np.int64)
        rep[row_arr] = first_arr
        is_rep = first_arr == row_arr
        docs = np.flatnonzero(is_rep)
        rep_rows = row_arr[docs]
        slots = self._new_slots(rep_rows)
        self._sigs[slots] = sigs[docs]
        self._nsh[rep_rows] = off[docs + 1] - off[docs]
        self._bottom[rep_rows] = _bottom_k(sets, off, docs)
        if self._keeping:
            budget = int(self.options.shingle_memory_mb * (1 << 20))
            self._store.limit = budget // 4
            self._store.put(rep_rows, sets, off, docs)
            if budget and self._store.nbytes > budget:  # too big to hold: re-derive candidates' sets later
                if self._n_old:  # an index's sets stay: there are no texts to re-derive them from
                    self._store.drop(np.arange(self._n_old, len(self._store)))
                else:
                    self._store.clear()
                self._keeping = False
        if fps is not None:
            for i in docs.tolist():
                self._fps[rows[i]] = fps[i]
        if not is_rep.all():  # exact copies share their representative's data
            copies = np.flatnonzero(~is_rep)
            c_rows, c_src = row_arr[copies], first_arr[copies]
            self._slot[c_rows] = self._slot[c_src]
            self._nsh[c_rows] = self._nsh[c_src]
            self._store.share(c_rows, c_src)
            for r, f in zip(c_rows.tolist(), c_src.tolist()):
                self._fps[r] = self._fps[f]

    def _new_slots(self, rep_rows: np.ndarray) -> np.ndarray:
        """Signature slots for new representatives (rows ascending)."""
        lo, hi = self._n_slots, self._n_slots + rep_rows.size
        if hi > self._sigs.shape[0]:
            cap = max(hi, 2 * self._sigs.shape[0])
            grown = np.empty((cap, self._sigs.shape[1]), dtype=np.uint32)
            grown[:lo] = self._sigs[:lo]
            self._sigs = grown
            self._slot_rows = np.concatenate(
                (self._slot_rows, np.zeros(cap - self._slot_rows.size, dtype=np.int64))
            )
        slots = np.arange(lo, hi, dtype=np.int64)
        self._slot_rows[slots] = rep_rows
        self._slot[rep_rows] = slots
        self._n_slots = hi
        return slots

    def _grow_rows(self) -> None:
        """Double the per-row numpy columns."""
        row = self._nsh.size
        self._nsh = np.concatenate((self._nsh, np.zeros(row, dtype=np.int64)))
        self._rep = np.concatenate((self._rep, np.zeros(row, dtype=np.int64)))
        self._slot = np.concatenate((self._slot, np.zeros(row, dtype=np.int64)))
        self._bottom = np.concatenate((self._bottom, np.zeros((row, _BOTTOM), dtype=np.uint32)))

    def _append(self, doc_id: str, key: bytes, fps: np.ndarray) -> None:
        """One new row. The union-find is not grown here: ``_flush`` grows it once a
        batch, ``_load_into`` sets it whole."""
        row = len(self._ids)
        if row == self._nsh.size:
            self._grow_rows()
        self._rep[row] = row
        self._ids.append(doc_id)
        self._row[doc_id] = row
        self._exact.append(key)
        self._fps.append(fps)

    # -------------------------------------------------------------- resolve
    def resolve(
        self,
        texts: Callable[[], Iterable[tuple[str, str]]] | None = None,
        texts_at: TextsAt | None = None,
    ) -> dict[str, Decision]:
        """Decide every document added since the last resolve (or load).

        ``texts`` re-yields ``(doc_id, text)``; it is only read when
        ``keep_shingles`` is False, to rebuild shingle sets of LSH candidates
        (and of all new documents when an index is to be saved).
        ``texts_at(positions)``, when given, yields them for the documents at
        ``positions`` only (ascending; 0 is the first document added since the
        last resolve): then only the documents needed are read back.
        """
        return self.resolve_columns(texts, texts_at).as_dict()

    def resolve_columns(
        self,
        texts: Callable[[], Iterable[tuple[str, str]]] | None = None,
        texts_at: TextsAt | None = None,
    ) -> Decisions:
        """:meth:`resolve`, the decisions as :class:`Decisions` (columns, in row
        order): what a corpus of millions of documents can hold."""
        o = self.options
        self._say("hashing the last documents")
        self._drain()
        n, n_old = len(self._ids), self._n_old
        uf = self._uf
        self._texts = texts
        self._texts_at = texts_at
        # LSH candidates among one representative per exact group (their
        # signature slots, in row order: a view, no copy)
        reps = self._slot_rows[: self._n_slots]
        n_old_reps = int(np.searchsorted(reps, n_old))
        self._say("finding candidate pairs")
        if self._verified is not None:  # found and verified by the pair round's tasks
            edges, jac, con, n_lsh, n_checked = self._verified
            self._verified = None
            order = np.lexsort((edges[:, 0], edges[:, 1]))  # by later row, then earlier (as below)
            edges, jac, con = edges[order], jac[order], con[order]
        else:
            edges, jac, con, n_lsh, n_checked = self._verify(reps, n_old_reps)
        self._edge_sim = _Edges(n, edges, jac, con)
        self._pair_sim = _PairCache(n)
        self._say("finding composite pages")
        composites = self._find_composites(n_old, n, edges)
        # the edges clusters follow: none between a composite page and a document that is not one
        links = self._links(edges, n_old, n)
        self._links_now = links
        self._say("clustering")
        first_seen: dict[int, int] | None = None
        if o.survivor == "first_seen":
            first_seen = self._first_seen(n_old, n, links, composites)
        else:  # only the final components matter: union order is irrelevant (roots are smallest rows)
            copies = np.flatnonzero(self._rep[n_old:n] != np.arange(n_old, n)) + n_old
            joined = np.concatenate((np.stack((self._rep[copies], copies), axis=1), links))
            for lo in range(0, joined.shape[0], _UNIONS_AT_ONCE):  # a chunk's Python ints at a time
                chunk = joined[lo : lo + _UNIONS_AT_ONCE]
                for a, b in zip(chunk[:, 0].tolist(), chunk[:, 1].tolist()):
                    uf.union(a, b)
        self._say("choosing survivors")
        # rows from shards: a document with nothing to say (kept, alone) has no decision
        # listed (most documents of a corpus), unless it gets a story id
        listed = not self._from_shards or o.story_grouping
        decisions = self._decide(n_old, n, first_seen, composites, list_all=listed)
        if o.story_grouping:
            self._say("grouping stories")
            self._assign_stories(decisions, reps, n_old, n)
        if self._corpus_rows is not None:  # add_rows(): the decisions name the corpus's rows
            decisions.rows = array.array(
                "q", self._corpus_rows[np.frombuffer(decisions.rows, dtype=np.int64)].tobytes()
            )
        self.stats = {
            "documents": n - n_old if self._corpus_size is None else self._corpus_size,
            "indexed_before": n_old,
            "bands": self.bands,
            "rows": self.rows,
            "candidate_pairs": n_lsh,
            "verified_candidates": n_checked,
            "verified_pairs": int(edges.shape[0]),
            "dropped": decisions.count("duplicate"),
            "composites": len(composites),
            "bytes_per_doc": self.bytes_per_doc(),
            "hashing": native.describe(),  # "native" (C kernels) or "numpy (why)": same results
        }
        if self._buckets is not None:
            self.stats["largest_bucket"] = self._buckets.largest
            # texts in a bucket past max_bucket, compared with its first ANCHORS only
            self.stats["capped_bucket_texts"] = self._buckets.capped_rows
            self._buckets = None
        self._n_old = n  # everything is resolved now; a later add()+resolve() is incremental
        if o.save_index:  # the index stores every representative's set: re-derive the missing ones
            self._say("saving the index")
            self._gather_shingles(reps[n_old_reps:], texts)
            self.save(o.save_index)
        self._texts = self._texts_at = None
        self._links_now = _NO_EDGES
        if self._scratch is not None:
            self._scratch.close()
        return decisions

    def _verify(
        self, reps: np.ndarray, n_old_reps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """The verified candidate pairs (rows, sorted by later row then earlier: the
        first_seen sweep goes through the new rows in the order they were added),
        their Jaccard and containment, how many candidates LSH gave and how many
        passed the prefilter."""
        o = self.options
        if self._shard_pairs is not None:  # found by add_shards()
            pairs, self._shard_pairs = self._shard_pairs, None
        else:
            self._buckets = BucketStats(self._n_slots)
            pairs = self._candidate_pairs(
                self._sigs[: self._n_slots],
                self.bands,
                self.rows,
                min_new=n_old_reps,
                max_bucket=o.max_bucket,
                stats=self._buckets,
            )
        n_lsh = int(pairs.shape[0])
        pairs = self._prefilter(pairs, reps)
        if pairs.size:
            pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]  # by later row, then earlier
        self._say("verifying candidate pairs")
        jac, con, small = self._measure(pairs)
        ok = self._accept(jac, con, small)
        return pairs[ok], jac[ok], con[ok], n_lsh, int(pairs.shape[0])

    def _say(self, phase: str, done: int | None = None, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress(phase, done, total)

    def _gather_shingles(
        self, need: np.ndarray, texts: Callable[[], Iterable[tuple[str, str]]] | None
    ) -> np.ndarray:
        """Re-derive (and keep) the shingle sets of rows ``need`` that are not
        held, from the texts (the same normalisation and hashing as ``add``);
        returns the rows it re-derived."""
        need = need[~self._store.held(need)]
        if not need.size:
            return need
        need = sorted_unique(need)
        for batch in self._reread(need, texts):
            sets, off = self._sh.shingle_sets(self._sh.tokens([t for _, t in batch], keys=False))
            self._store.put(np.array([r for r, _ in batch], dtype=np.int64), sets, off, np.arange(len(batch)))
        return need

    def _reread(
        self, todo: np.ndarray, texts: Callable[[], Iterable[tuple[str, str]]] | None
    ) -> Iterator[list[tuple[int, str]]]:
        """Batches of (row, normalised text) of the rows ``todo`` (sorted, distinct),
        read from ``texts()`` in its order; raises when it does not yield them all."""
        if texts is None:
            raise ValueError(
                "resolve() needs `texts` to re-read candidate documents: their shingle sets are not in memory "
                "(keep_shingles=False, or more than shingle_memory_mb of them)"
            )
        # a byte a row, not a set of the rows: the rows still to come
        pending = np.zeros(len(self._ids), dtype=np.uint8)
        pending[todo] = 1

        def arriving() -> Iterator[tuple[int, str]]:
            for r, text in self._texts_of(todo, pending, texts):
                pending[r] = 0
                yield r, text

        yield from normalised_batches(self.options, arriving())
        missing = todo[pending[todo] != 0]
        if missing.size:
            names = sorted(self._ids[r] for r in missing[:1000].tolist())[:5]
            raise ValueError(f"texts() did not yield {missing.size} needed documents, e.g. {names}")

    def _texts_of(
        self, todo: np.ndarray, pending: np.ndarray, texts: Callable[[], Iterable[tuple[str, str]]]
    ) -> Iterator[tuple[int, str]]:
        """(row, text) of the rows ``todo`` (``pending``: a byte a row, set while its
        text is still to come) as ``texts_at`` or ``texts()`` yields them."""
        if self._texts_at is not None:  # only the rows needed, in row order
            base = self._n_old
            wanted = todo[todo >= base]
            if self._from_shards:  # rows from shards have no id map: they come back as asked
                for lo in range(0, wanted.size, _REREAD_AT_ONCE):  # a chunk's positions at a time
                    chunk = wanted[lo : lo + _REREAD_AT_ONCE].tolist()
                    # add_rows(): the rows are some of the corpus's, in its order
                    at = (
                        [r - base for r in chunk]
                        if self._corpus_rows is None
                        else self._corpus_rows[chunk].tolist()
                    )
                    for r, (doc_id, text) in zip(chunk, self._texts_at(at)):
                        if doc_id != self._ids[r]:
                            raise ValueError(f"texts_at() gave {doc_id!r} where {self._ids[r]!r} was added")
                        yield r, text
                return
            stream = self._texts_at((wanted - base).tolist())
        elif self._from_shards:
            raise ValueError("resolve() after add_shards() needs texts_at to re-read candidate documents")
        else:
            stream = texts()
        for doc_id, text in stream:
            r = self._row.get(doc_id)
            if r is not None and pending[r]:
                yield r, text

    def _measure(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Jaccard, containment, smaller set size) of row pairs; sets not in
        memory are re-derived from the texts in one streaming pass."""
        if pairs.size and not self._store.held(pairs.ravel()).all():
            return self._stream_pairs(pairs)
        return pair_similarities(self._store, pairs)

    def _stream_pairs(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_measure` for pairs whose sets are not all held: the texts read
        once (``resolve(texts=...)``), see :func:`measure_streamed`."""
        return measure_streamed(
            self._sh,
            self._store,
            pairs,
            len(self._ids),
            lambda todo: self._reread(todo, self._texts),
            lambda done, total: self._say("re-reading candidate documents", done, total),
        )

    def _prefilter(self, slot_pairs: np.ndarray, reps: np.ndarray) -> np.ndarray:
        """The candidate pairs (of signature slots) that can plausibly pass verification,
        as pairs of rows (``reps``: the row of each slot). For sizes
        s <= g, containment >= f means Jaccard >= f*s / (s + g - f*s), so the
        least Jaccard an accepted pair can have is known exactly; a pair whose
        MinHash estimate (matching signature positions, standard deviation
        <= 0.045 at 128 positions) is ``prefilter_margin`` below it is skipped
        (0.15: more than 3 standard deviations; a pair that would pass is
        skipped with probability < 0.1%, and only when it is near the
        threshold). Chunk by chunk: the candidates of text many pages share
        can be many millions, and most of them go."""
        o = self.options
        if not slot_pairs.size:
            return slot_pairs
        if o.prefilter_margin >= 1.0:
            return reps[slot_pairs]
        kept = np.zeros(slot_pairs.shape[0], dtype=bool)
        for lo in range(0, slot_pairs.shape[0], _PREFILTER_CHUNK):  # bounded temporaries
            chunk = slot_pairs[lo : lo + _PREFILTER_CHUNK]
            rows = reps[chunk]
            kept[lo : lo + chunk.shape[0]] = plausible(
                o,
                self._signatures(chunk[:, 0]),
                self._signatures(chunk[:, 1]),
                self._nsh[rows[:, 0]],
                self._nsh[rows[:, 1]],
            )
        return reps[slot_pairs[kept]]

    def _signatures(self, slots: np.ndarray) -> np.ndarray:
        """The signatures in ``slots``: in memory, or read back (:meth:`add_shards`)."""
        if self._scratch is not None:
            return self._scratch.signatures(slots)
        return self._sigs[slots]

    def _accept(self, jac: np.ndarray, con: np.ndarray, small: np.ndarray) -> np.ndarray:
        """The duplicate rule for verified (Jaccard, containment, smaller set size)."""
        return accepted(self.options, jac, con, small)

    def _sims(
        self, pairs: list[tuple[int, int]] | np.ndarray, remember_only: bool = False
    ) -> list[tuple[float, float, bool] | None]:
        """(Jaccard, containment, duplicate?) of row pairs, through their exact
        representatives (measured once per resolve, then remembered; with
        ``remember_only``, nothing is returned: what a later call will ask)."""
        if not len(pairs):
            return []
        if len(pairs) <= _FEW_PAIRS and not remember_only:
            return self._few_sims(pairs)
        rows = self._rep[np.asarray(pairs, dtype=np.int64).reshape(-1, 2)]
        reps = np.sort(rows, axis=1)  # (a, b), a <= b
        same = reps[:, 0] == reps[:, 1]
        edge = self._edge_sim.has(reps) & ~same
        unknown = np.flatnonzero(~(same | edge))
        ask = reps[unknown]
        seen, jac, con, ok = self._pair_sim.lookup(ask)
        todo = np.flatnonzero(~seen)
        if todo.size:
            jac[todo], con[todo], ok[todo] = self._measure_new(ask[todo])
        if remember_only:
            return []
        out: list[tuple[float, float, bool] | None] = [None] * len(pairs)
        for k in np.flatnonzero(same).tolist():
            out[k] = (1.0, 1.0, True)
        at = np.flatnonzero(edge)
        for k, (a, b) in zip(at.tolist(), reps[at].tolist()):
            out[k] = (*self._edge_sim.get(a, b), True)  # type: ignore[misc]
        for k, x, y, z in zip(unknown.tolist(), jac.tolist(), con.tolist(), ok.tolist()):
            out[k] = (x, y, z)
        return out

    def _few_sims(
        self, pairs: Sequence[tuple[int, int]] | np.ndarray
    ) -> list[tuple[float, float, bool] | None]:
        """:meth:`_sims` of a few pairs, a pair at a time (numpy costs more than it
        saves on a handful: a star cluster's members, a page's parts)."""
        rep = self._rep
        out: list[tuple[float, float, bool] | None] = [None] * len(pairs)
        todo: list[tuple[int, int, int]] = []
        for k, (x, y) in enumerate(pairs):
            a, b = int(rep[x]), int(rep[y])
            if a == b:
                out[k] = (1.0, 1.0, True)
                continue
            a, b = (a, b) if a < b else (b, a)
            known = self._edge_sim.get(a, b)
            if known is not None:
                out[k] = (*known, True)
                continue
            out[k] = self._pair_sim.get(a, b)
            if out[k] is None:
                todo.append((k, a, b))
        if todo:
            jac, con, ok = self._measure_new(np.array([(a, b) for _, a, b in todo], dtype=np.int64))
            for (k, _, _), x, y, z in zip(todo, jac.tolist(), con.tolist(), ok.tolist()):
                out[k] = (x, y, bool(z))
        return out

    def _measure_new(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Jaccard, containment, duplicate?) of representative pairs a < b not measured
        yet in this resolve, remembered for the rest of it."""
        jac, con, small = self._measure(pairs)
        ok = self._accept(jac, con, small)
        self._pair_sim.put(pairs, jac, con, ok)
        return jac, con, ok

    # ----------------------------------------------------------- composites
    def _find_composites(
        self, n_old: int, n: int, edges: np.ndarray
    ) -> dict[int, tuple[tuple[str, ...], float]]:
        """Row -> (ids of its parts, coverage) of every new document that is a
        composite page (see ``DedupOptions``), exact copies of one included.
        They join ``self._composite``, and so do new exact copies of indexed
        composites (they are never parts of a page either)."""
        first_seen = self.options.survivor == "first_seen"
        rep = self._rep
        found: dict[int, tuple[list[int], float]] = {}
        if edges.size:
            composite = np.fromiter(self._composite, dtype=np.int64) if self._composite else None
            page, part = candidate_parts(
                self.options,
                edges,
                self._edge_sim.jac,
                self._edge_sim.con,
                self._nsh[edges],
                n_old,
                composite,
            )
            starts = np.flatnonzero(np.concatenate(([True], page[1:] != page[:-1]))) if page.size else page
            ends = np.append(starts[1:], page.size)
            cand = {int(page[x]): part[x:y].tolist() for x, y in zip(starts.tolist(), ends.tolist())}
            if cand and self._found_parts is not None:  # searched in partitions (add_shards)
                self._add_found_parts(cand)
            elif cand:
                self._search_parts(cand, first_seen)
            cand = {c: parts for c, parts in cand.items() if len(parts) > 1}
            if cand:
                found = self._judge_pages(cand, edges, n, first_seen)
        out: dict[int, tuple[tuple[str, ...], float]] = {}
        if found:
            reps = rep[:n]
            all_parts = np.concatenate([np.asarray(p, dtype=np.int64) for p, _ in found.values()])
            in_part = np.isin(reps, sorted_unique(all_parts))
            rows_of: dict[int, list[int]] = {}
            for r in np.flatnonzero(in_part).tolist():
                rows_of.setdefault(int(reps[r]), []).append(r)
            for c, (parts, cov) in found.items():
                # with first_seen a page names only documents added before it
                contained = [r for x in parts for r in rows_of[x] if not first_seen or r < c]
                out[c] = (tuple(sorted(self._ids[r] for r in contained)), cov)
            for r in (np.flatnonzero(np.isin(reps[n_old:], list(found))) + n_old).tolist():
                out[r] = out[int(reps[r])]  # an exact copy of a composite page is one
        self._composite.update(out)
        if self._composite and n_old:
            copies = np.arange(n_old, n)[rep[n_old:n] < n_old]
            old = np.fromiter(self._composite, dtype=np.int64)
            self._composite.update(copies[np.isin(rep[copies], old)].tolist())
        return out

    def _search_parts(self, cand: dict[int, list[int]], first_seen: bool) -> None:
        """Add to ``cand`` (page -> its parts so far) the other documents each page
        contains, and drop the pages one of them is a copy of.

        LSH finds a part of a page with the probability of their Jaccard, the part's
        share of the page: about 0.7 for one of four stories. A document contained in a
        page has its smallest shingle hashes in the page's set (with containment c, each
        one with probability c), so looking the page's shingles up among every
        document's ``_BOTTOM`` smallest finds them; each one found is verified."""
        o = self.options
        nsh = self._nsh
        reps = self._slot_rows[: self._n_slots]  # every representative, old and new
        reps = reps[nsh[reps] >= max(o.containment_min_shingles, 1)]
        if self._composite:
            reps = reps[~np.isin(reps, np.fromiter(self._composite, dtype=np.int64))]
        if len(self._ids) < 2**31:
            # (value, row) packed in one 64-bit key, sorted in place: by value, rows ascending
            # within one (what a stable sort of the values gives), with no index array (the
            # table is the largest thing this step holds: 4 values a document)
            # (built, split and filtered without a temporary as large as the table)
            key = np.empty((reps.size, _BOTTOM), dtype=np.uint64)
            key[:] = self._bottom[reps]
            key <<= np.uint64(32)
            key |= reps.astype(np.uint64)[:, None]
            key = key.ravel()
            key.sort()
            values = np.empty(key.size, dtype=np.uint32)
            np.right_shift(key, np.uint64(32), out=values, casting="unsafe")
            rows = np.empty(key.size, dtype=np.int32)
            np.bitwise_and(key, np.uint64(0xFFFFFFFF), out=rows, casting="unsafe")
            del key
        else:
            values = self._bottom[reps].ravel()
            rows = np.repeat(reps, _BOTTOM)
            order = np.argsort(values, kind="stable")
            values, rows = values[order], rows[order]
            del order
        keep = _rare_values(values, _BOTTOM_MAX_DF)
        values, rows = values[keep], rows[keep]
        del keep
        all_pages = np.array(sorted(cand), dtype=np.int64)
        n = len(self._ids)
        # pages a batch at a time: their shingles (re-read when not held) are looked up and
        # the parts found verified, then let go
        for start in range(0, all_pages.size, _PAGES_LOOKED_UP):
            pages = all_pages[start : start + _PAGES_LOOKED_UP]
            fetched = self._gather_shingles(pages, self._texts)
            own, sizes = self._store.gather(pages)
            lo = np.searchsorted(values, own, "left")
            found = np.searchsorted(values, own, "right") - lo
            part = rows[concat_ranges(lo, found)]
            page = np.repeat(np.repeat(pages, sizes), found)
            ok = (nsh[part] < nsh[page]) & (part < page if first_seen else True)
            code = sorted_unique(page[ok] * n + part[ok])
            known = np.array([c * n + x for c in pages.tolist() for x in cand[c]], dtype=np.int64)
            code = code[~np.isin(code, known)]
            pairs = list(zip((code % n).tolist(), (code // n).tolist()))
            sims = self._sims(pairs)
            if fetched.size:
                self._store.drop(fetched)
            for (x, c), sim in zip(pairs, sims):
                if c not in cand or sim is None or not sim[2]:
                    continue
                share = sim[1] * int(nsh[x]) / max(int(nsh[c]), 1)
                if self._accept(np.array([sim[0]]), np.array([share]), np.array([int(nsh[c])]))[0]:
                    del cand[c]  # a copy of that document
                else:
                    cand[c].append(x)
        for parts in cand.values():
            parts.sort()

    def _add_found_parts(self, cand: dict[int, list[int]]) -> None:
        """:meth:`_search_parts` with what the part search's tasks found (``add_shards``):
        the pages a found document is a copy of go, the others get the parts found in them."""
        assert self._found_parts is not None
        copied, pages, parts = self._found_parts
        self._found_parts = None
        for page in copied.tolist():
            cand.pop(page, None)
        added: dict[int, set[int]] = {}
        for page, part in zip(pages.tolist(), parts.tolist()):
            if page in cand:
                added.setdefault(page, set(cand[page])).add(part)
        for page, found in added.items():
            cand[page] = sorted(found)
        for page in cand.keys() - added.keys():
            cand[page].sort()

    def _judge_pages(
        self, cand: dict[int, list[int]], edges: np.ndarray, n: int, first_seen: bool
    ) -> dict[int, tuple[list[int], float]]:
        """Composite pages among ``cand`` (page -> its candidate parts, all
        representatives): page -> (its parts, coverage)."""
        nsh = self._nsh
        # Parts are related (one piece) when they share at least half of the smaller one's
        # shingles: two edited copies of one story that are not quite duplicates of each
        # other still cover the same region of a page. Measured for every pair of a page's
        # parts (an LSH miss must not split one story into two pieces); a page with very
        # many parts uses the verified edges only.
        pairs = sorted(
            {
                pq
                for parts in cand.values()
                if len(parts) <= _PARTS_MEASURED
                for pq in itertools.combinations(parts, 2)
            }
        )
        related = {pq for pq, sim in zip(pairs, self._sims(pairs)) if sim is not None and sim[1] >= _RELATED}
        adj = _adjacency(edges, n) if any(len(p) > _PARTS_MEASURED for p in cand.values()) else None

        def pieces(parts: list[int]) -> list[list[int]]:
            parent = {x: x for x in parts}

            def find(x: int) -> int:
                while parent[x] != x:
                    x = parent[x]
                return x

            if len(parts) <= _PARTS_MEASURED:
                linked: Iterable[tuple[int, int]] = (
                    pq for pq in itertools.combinations(parts, 2) if pq in related
                )
            else:
                linked = ((x, y) for x in parts for y in adj(x) if y in parent)  # type: ignore[misc]
            for x, y in linked:
                rx, ry = find(x), find(y)
                if rx != ry:
                    parent[max(rx, ry)] = min(rx, ry)
            groups: dict[int, list[int]] = {}
            for x in parts:
                groups.setdefault(find(x), []).append(x)
            return list(groups.values())

        # Only pages whose parts make two pieces, or have a part that may itself be a
        # composite (left out, it can split a piece), can be composite. The sets of the
        # first kind are re-read at once when they are not in memory, the others (rare)
        # when they turn out to be needed.
        split = {c: pieces(parts) for c, parts in cand.items()}
        maybe = [c for c, parts in cand.items() if len(split[c]) > 1 or any(x in cand for x in parts)]
        need = np.array([r for c in maybe if len(split[c]) > 1 for r in [c, *cand[c]]], dtype=np.int64)
        fetched = [self._gather_shingles(need, self._texts)]
        found: dict[int, tuple[list[int], float]] = {}
        # smallest first (first_seen: in add order): a page's parts are judged before it
        for c in sorted(maybe) if first_seen else sorted(maybe, key=lambda r: (int(nsh[r]), r)):
            parts = [x for x in cand[c] if x not in found]
            if len(parts) < 2:
                continue
            groups = split[c] if len(parts) == len(cand[c]) else pieces(parts)
            if len(groups) < 2:
                continue
            fetched.append(self._gather_shingles(np.array([c, *parts], dtype=np.int64), self._texts))
            cov, jac_each, cov_each = self._coverage(c, groups)
            size = np.full(len(groups) + 1, int(nsh[c]), dtype=np.int64)
            ok = self._accept(np.array([0.0, *jac_each]), np.array([cov, *cov_each]), size)
            # together the pieces contain the page, and the page is no copy of any one of them
            if ok[0] and not ok[1:].any():
                found[c] = (parts, cov)
        gone = np.concatenate(fetched)
        if gone.size:
            self._store.drop(gone)
        return found

    def _coverage(self, page: int, groups: list[list[int]]) -> tuple[float, list[float], list[float]]:
        """(share of the page's shingles found in some part; for each group of
        parts, the Jaccard of the page and their union, and the share of the
        page's shingles found in them)."""
        store = self._store
        own = store.get(page)
        size = max(own.size, 1)
        covered = np.zeros(own.size, dtype=bool)
        jac, cov = [], []
        for g in groups:
            values = sorted_unique(store.gather(np.asarray(g, dtype=np.int64))[0])
            hit = np.isin(own, values, assume_unique=True)
            covered |= hit
            inter = int(np.count_nonzero(hit))
            jac.append(inter / max(own.size + values.size - inter, 1))
            cov.append(inter / size)
        return int(np.count_nonzero(covered)) / size, jac, cov

    def _links(self, edges: np.ndarray, n_old: int, n: int) -> np.ndarray:
        """The verified edges clusters follow: never one between a composite
        page and a document that is not one; with ``composite = "drop"`` none
        of a composite (they are all dropped), with ``"keep"`` none of a
        composite an earlier run dropped."""
        if not self._composite or not edges.size:
            return edges
        comp = np.zeros(n, dtype=bool)
        comp[np.fromiter(self._composite, dtype=np.int64)] = True
        ca, cb = comp[edges[:, 0]], comp[edges[:, 1]]
        if self.options.composite == "keep":
            gone = comp & (np.frombuffer(self._kept, dtype=np.int8)[:n] == 0)
            gone[n_old:] = False
            ok = (ca == cb) & ~gone[edges[:, 0]] & ~gone[edges[:, 1]]
        else:
            ok = ~ca & ~cb
        return edges[ok]

    # ------------------------------------------------------------- clusters
    def _first_seen(
        self, n_old: int, n: int, links: np.ndarray, composites: dict[int, Any]
    ) -> dict[int, int]:
        """Row -> survivor of every new duplicate with ``survivor = "first_seen"``.

        The new rows are swept in the order they were added, each joined to
        its exact original and its verified neighbours among the rows before
        it, so no decision depends on a later document (an incremental run
        decides exactly like a combined one). ``transitive``: a row is a
        duplicate of the first-seen member of what it is connected to (the
        root: a set's root is its smallest row). ``star``: of the first-seen
        kept document it is connected to and is itself a verified duplicate
        of (an exact copy: of its original, when that was kept); with none,
        it is kept.
        """
        uf = self._uf
        rep = self._rep[:n].tolist()
        later, earlier = links[:, 1].tolist(), links[:, 0].tolist()
        gone = set(composites) if self.options.composite == "drop" else set()
        dup_of: dict[int, int] = {}
        p = 0
        if self.options.clusters == "transitive":
            for i in range(n_old, n):
                if rep[i] != i:
                    uf.union(rep[i], i)
                while p < len(later) and later[p] == i:
                    uf.union(i, earlier[p])
                    p += 1
                r = uf.find(i)
                if r != i and i not in gone:
                    dup_of[i] = r
            return dup_of
        self._measure_groups(n_old, n, links)
        seq, ids, kept = self._seq, self._ids, self._kept

        def key(r: int) -> tuple[int, str]:
            return seq[r], ids[r]

        old_roots = uf.roots(n_old)
        by_root = np.argsort(old_roots, kind="stable")
        sorted_roots = old_roots[by_root]
        kept_of: dict[int, list[int]] = {}  # root -> kept rows of its group, first seen first

        def members(r: int) -> list[int]:
            got = kept_of.get(r)
            if got is None:
                got = []
                if r < n_old:  # an indexed group: its kept documents
                    lo, hi = np.searchsorted(sorted_roots, [r, r + 1]).tolist()
                    got = sorted((x for x in by_root[lo:hi].tolist() if kept[x]), key=key)
                kept_of[r] = got
            return got

        def join(x: int, y: int) -> None:
            rx, ry = uf.find(x), uf.find(y)
            if rx != ry:
                merged = sorted(members(rx) + members(ry), key=key)
                del kept_of[rx], kept_of[ry]
                uf.union(rx, ry)
                kept_of[uf.find(rx)] = merged

        def is_kept(x: int) -> bool:
            return bool(kept[x]) if x < n_old else x not in dup_of and x not in gone

        for i in range(n_old, n):
            if rep[i] != i:
                join(rep[i], i)
            while p < len(later) and later[p] == i:
                join(i, earlier[p])
                p += 1
            if i in gone:
                continue
            r0 = rep[i]
            if r0 != i and (is_kept(r0) or r0 in self._composite):
                dup_of[i] = r0  # an exact copy of a kept document (or of a composite an earlier run dropped)
                continue
            group = members(uf.find(i))
            t = self._first_verified(i, group)
            if t is None:
                group.append(i)  # the latest seen: the list stays in order
            else:
                dup_of[i] = t
        return dup_of

    def _first_verified(self, row: int, targets: list[int]) -> int | None:
        """The first of ``targets`` that ``row`` is a verified duplicate of
        (measured a few at a time: usually the first one is)."""
        for lo in range(0, len(targets), 16):
            chunk = targets[lo : lo + 16]
            for t, sim in zip(chunk, self._sims([(row, t) for t in chunk])):
                if sim is not None and sim[2]:
                    return t
        return None

    def _measure_groups(self, n_old: int, n: int, links: np.ndarray) -> None:
        """Measure, in one batch, every pair of a new row and an earlier row of
        its connected group, for groups of up to ``_GROUP_MEASURED`` rows: the
        first_seen sweep then finds them measured (one pass over the texts
        when the sets are not in memory, instead of one per row)."""
        if not links.size:
            return
        groups = UnionFind()
        groups.parent = array.array("q", self._uf.parent)
        rep = self._rep[:n]
        for i in np.flatnonzero(rep[n_old:] != np.arange(n_old, n)).tolist():
            groups.union(int(rep[i + n_old]), i + n_old)
        for a, b in links.tolist():
            groups.union(a, b)
        roots = groups.roots(n)
        touched = sorted_unique(roots[n_old:])
        sizes = np.bincount(roots, minlength=n)
        small = touched[(sizes[touched] > 1) & (sizes[touched] <= _GROUP_MEASURED)]
        rows = np.flatnonzero(np.isin(roots, small))
        order = np.argsort(roots[rows], kind="stable")
        rows, r = rows[order], roots[rows][order]
        starts = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1]))) if r.size else r
        pairs: list[tuple[int, int]] = []
        for lo, hi in zip(starts.tolist(), np.append(starts[1:], r.size).tolist()):
            members = rows[lo:hi].tolist()  # ascending
            pairs.extend((x, i) for k, i in enumerate(members) if i >= n_old for x in members[:k])
        self._sims(pairs)

    def _star(
        self,
        group: list[int],
        n_old: int,
        dup_of: dict[int, int],
        adj: Callable[[int], list[int]],
    ) -> None:
        """Star clusters inside one connected group (see ``DedupOptions``).

        The survivor's verified duplicates are dropped as its duplicates;
        the new members that are not (with the old kept rows, which may
        survive again) are split into connected components of verified edges
        and handled the same way."""
        rep = self._rep
        todo = [group]
        while todo:
            rows = todo.pop()
            if len(rows) < 2:
                continue
            s = self._survivor(rows, n_old)
            others = [m for m in rows if m != s]
            rest = []
            for m, sim in zip(others, self._sims([(m, s) for m in others])):
                if sim is not None and sim[2]:
                    if m >= n_old:
                        dup_of[m] = s
                elif m >= n_old or self._kept[m]:
                    rest.append(m)
            if not any(m >= n_old for m in rest):
                continue
            # components of the rest: exact copies together, plus verified edges
            by_rep: dict[int, list[int]] = {}
            for m in rest:
                by_rep.setdefault(int(rep[m]), []).append(m)
            seen: set[int] = set()
            for r0 in sorted(by_rep):
                if r0 in seen:
                    continue
                seen.add(r0)
                stack, comp = [r0], []
                while stack:
                    r = stack.pop()
                    comp.extend(by_rep[r])
                    for q in adj(r):
                        if q in by_rep and q not in seen:
                            seen.add(q)
                            stack.append(q)
                todo.append(sorted(comp))

    def _survivor(self, members: list[int], n_old: int) -> int:
        old = [m for m in members if m < n_old]
        if old:  # already exported: an indexed survivor always wins
            kept = [m for m in old if self._kept[m]] or old
            return min(kept, key=lambda m: (self._seq[m], self._ids[m]))
        if self.options.survivor == "first_seen":
            return min(members, key=lambda m: (self._seq[m], self._ids[m]))
        return min(members, key=lambda m: (self._rank[m], self._ids[m]))

    def _groups(self, n_old: int, n: int) -> Callable[[], Iterator[list[int]]]:
        """The rows (ascending) of every component with a new row and at least two
        members, by root (vectorised: no find() per row), as a function that lists
        them a group at a time: the rows wait in one array, not in a list each."""
        roots = self._uf.roots(n)
        # a row alone in its component is no group: most rows, left out before any list is made
        shared = np.bincount(roots, minlength=n) > 1
        sel = np.flatnonzero(shared[roots])
        del shared
        sel = sel[np.isin(roots[sel], roots[n_old:n])]
        r = roots[sel]
        del roots
        order = np.argsort(r, kind="stable")  # by root, rows ascending within
        r, rows = r[order], sel[order]
        del order, sel
        starts = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1]))) if r.size else r
        bounds = np.append(starts, r.size)
        del r, starts

        def groups() -> Iterator[list[int]]:
            for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                if b - a > 1:
                    yield rows[a:b].tolist()

        return groups

    def _duplicates(self, n_old: int, n: int) -> dict[int, int]:
        """Row -> its survivor for every new duplicate (policies other than
        ``first_seen``): star or transitive clusters of the verified edges."""
        dup_of: dict[int, int] = {}
        groups = self._groups(n_old, n)
        star = self.options.clusters == "star"
        if star:
            adj = _adjacency(self._links_now, n)
            # measure every (member, survivor) pair in one batch
            pre = array.array("q")
            for group in groups():
                s = self._survivor(group, n_old)
                for m in group:
                    if m != s:
                        pre.extend((m, s))
            self._sims(np.frombuffer(pre, dtype=np.int64).reshape(-1, 2), remember_only=True)
            del pre
        for group in groups():
            if star:
                self._star(group, n_old, dup_of, adj)
                continue
            s = self._survivor(group, n_old)
            dup_of.update((i, s) for i in group if i >= n_old and i != s)
        return dup_of

    def _decide(
        self,
        n_old: int,
        n: int,
        first_seen: dict[int, int] | None,
        composites: dict[int, tuple[tuple[str, ...], float]],
        list_all: bool = True,
    ) -> Decisions:
        """Survivor and duplicates of every cluster that has new rows, and the
        composite pages (``first_seen``: the sweep's duplicates); with
        ``list_all`` false, no decision for a kept document alone in its cluster."""
        if first_seen is not None:
            dup_of = first_seen
        else:  # a method of its own: its working state is freed before the decisions are built
            dup_of = self._duplicates(n_old, n)
        drop_composites = self.options.composite == "drop"
        if drop_composites:
            for i in composites:
                dup_of.pop(i, None)  # clustered only with other composites: all of them go anyway
        has_dups = set(dup_of.values())
        # similarity of each near duplicate to its survivor (representatives' sets): a verified
        # edge's is looked up as the decisions are made, the others measured here
        rep = self._rep  # rows of the same text share their representative
        sim: dict[int, tuple[float, float]] = {}
        near = []
        for i, t in sorted(dup_of.items()):
            if rep[i] == rep[t]:
                continue
            a, b = int(rep[t]), int(rep[i])
            if self._edge_sim.get(*((a, b) if a < b else (b, a))) is None:
                near.append((i, a, b))
        rep_pairs = np.array([(a, b) for _, a, b in near], dtype=np.int64).reshape(-1, 2)
        if rep_pairs.size:
            # the star check or the composite search may have measured the pair already
            seen, jac, con, _ = self._pair_sim.lookup(np.sort(rep_pairs, axis=1))
            todo = np.flatnonzero(~seen)
            if todo.size:
                jac[todo], con[todo], _ = self._measure(rep_pairs[todo])
            sim.update((i, (x, y)) for (i, _, _), x, y in zip(near, jac.tolist(), con.tolist()))
        del near, rep_pairs
        self._pair_sim = _PairCache(0)  # a per-resolve cache, not needed any more: memory for the decisions
        out = Decisions(story=self.options.story_grouping)
        annotate = self.options.mode == "annotate"
        ids, kept = self._ids, self._kept
        for i in range(n_old, n):
            composite = composites.get(i) if composites else None
            if composite is not None and drop_composites:
                kept[i] = False
                k = out.add(i, ids[i], annotate, role="composite", method="composite")
                out.composite[k] = composite
                continue
            t = dup_of.get(i)
            if t is None:
                role = "survivor" if i in has_dups else None
                if role is None and composite is None and not list_all:
                    continue
                k = out.add(i, ids[i], True, role=role)
            else:
                kept[i] = False
                if rep[i] == rep[t]:
                    method, jc, cn = "exact", 1.0, 1.0
                else:
                    method = "near"
                    a, b = int(rep[t]), int(rep[i])
                    jc, cn = self._edge_sim.get(*((a, b) if a < b else (b, a))) or sim.get(i, (None, None))
                k = out.add(i, ids[i], annotate, "duplicate", method, ids[t], jc, cn)
            if composite is not None:  # kept and flagged, annotated, or a duplicate of another composite page
                out.composite[k] = composite
        return out

    def _assign_stories(self, decisions: Decisions, reps: np.ndarray, n_old: int, n: int) -> None:
        """Story id per new row: a story that already has resolved rows keeps
        their label (it was exported with them; the earliest such row's label
        wins when a new row bridges two stories); a new story is labelled
        with its smallest id (independent of input order)."""
        o = self.options
        stories = decisions.story
        # story grouping lists every new row, in row order
        assert stories is not None and len(decisions) == n - n_old
        story = UnionFind(n)
        for i in range(n):  # near-duplicates are the same story
            story.union(self._uf.find(i), i)
        edges = story_edges([self._fps[r] for r in reps.tolist()], o.story_min_shared, o.story_max_df)
        linked = reps[edges] if edges.size else _NO_EDGES
        if self._composite and linked.size:  # a composite page holds several stories: it links none of them
            comp = np.fromiter(self._composite, dtype=np.int64)
            linked = linked[~(np.isin(linked[:, 0], comp) | np.isin(linked[:, 1], comp))]
        for a, b in linked.tolist():
            story.union(a, b)
        label: dict[int, str] = {}
        for i in range(n_old):  # rows ascending: the earliest resolved row's label
            label.setdefault(story.find(i), self._story[i])
        fresh: dict[int, str] = {}
        for i in range(n_old, n):
            r = story.find(i)
            if r not in label and (r not in fresh or self._ids[i] < fresh[r]):
                fresh[r] = self._ids[i]
        for i in range(n_old, n):
            r = story.find(i)
            sid = label.get(r) or fresh[r]
            self._story.append(sid)
            stories.append(sid)

    # ---------------------------------------------------------------- index
    def bytes_per_doc(self) -> float:
        """Payload bytes per document held for dedup: signature, exact key,
        shingle hashes (shared by exact copies), story fingerprints, id."""
        n = len(self._ids)
        if not n:
            return 0.0
        # exact copies share their fingerprint array: count each once (none without story grouping)
        fps = {id(a): a.nbytes for a in self._fps} if self._story_has_fps else {}
        # signature, exact key, rank, seq, kept, set size, representative,
        # union-find parent, shingle-store range (start + size)
        # signature slot, union-find parent, shingle-store range (start + size), smallest hashes
        per_row = 16 + 8 + 8 + 1 + 8 + 8 + 8 + 8 + 12 + 4 * _BOTTOM
        held = min(self._n_slots, self._sigs.shape[0])  # none after add_shards(): they are on disk
        sigs = held * (self.options.num_perm * self._sigs.itemsize + 8)
        total = n * per_row + sigs + self._store.nbytes + sum(fps.values())
        total += len(self._ids.encoded()[0])  # the ids' UTF-8 bytes
        return total / n

    def save(self, path: str | os.PathLike[str]) -> int:
        """Write the resolved state to ``path`` atomically; returns bytes written."""
        n = self._n_old
        if n != len(self._ids):
            raise ValueError("save() after resolve(): some added documents are not resolved yet")
        if not self._exact and n:
            raise ValueError("cannot save an index of documents added by add_shards()")
        o = self.options
        first_arr = self._rep[:n]
        is_rep = first_arr == np.arange(n)
        reps = np.flatnonzero(is_rep)
        if not self._store.held(reps).all():
            raise ValueError(
                "cannot save an index without shingle sets (not in memory and no texts to re-read)"
            )
        first = first_arr.tolist()
        id_blob, id_ends = self._ids[:n].encoded()

        def ragged(arrs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
            # only representatives store data; exact copies get an empty range;
            # parts are written one after the other (no concatenated copy)
            parts = [arrs[i] if first[i] == i else EMPTY_U32 for i in range(n)]
            offs = np.zeros(n + 1, dtype=np.int64)
            np.cumsum([p.size for p in parts], out=offs[1:])
            return [p.astype(np.uint32, copy=False) for p in parts if p.size] or [EMPTY_U32], offs

        # shingle sets of the representatives in row order: a view of the
        # store when they lie there in that order (the usual case), else
        # gathered in chunks
        sizes = np.where(is_rep, self._store.size[:n], 0).astype(np.int64)
        sh_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes, out=sh_off[1:])
        starts = self._store.start[reps]
        if reps.size and (starts[1:] == starts[:-1] + sizes[reps][:-1]).all():
            sh = [self._store.data[starts[0] : starts[0] + sh_off[-1]]]
        else:
            sh = [self._store.gather(reps[i : i + 65536])[0] for i in range(0, reps.size, 65536)] or [
                EMPTY_U32
            ]
        arrays = {
            "id_blob": np.frombuffer(id_blob, dtype=np.uint8),
            "id_offsets": np.concatenate(([0], np.frombuffer(id_ends, dtype=np.int64))).astype(np.int64),
            "exact": np.frombuffer(b"".join(self._exact[:n]), dtype=np.uint8).reshape(n, KEY_BYTES),
            "sigs": self._sigs[self._slot[:n]],  # one per row (format 1)
            "shingles": sh,
            "shingle_offsets": sh_off,
            "seq": np.array(self._seq[:n], dtype=np.int64),
            "kept": np.array(self._kept[:n], dtype=np.uint8),
            "root": self._uf.roots(n),  # find() of every row, vectorised
        }
        if self._composite:  # rows judged composite pages (absent: none; older versions ignore it)
            arrays["composite"] = np.array(sorted(self._composite), dtype=np.int64)
        if self._story_has_fps:
            arrays["fps"], arrays["fps_offsets"] = ragged(self._fps[:n])
            # story label as the row index of the document whose id it is
            arrays["story"] = np.array([self._row[x] for x in self._story[:n]], dtype=np.int64)
        header = {
            "kind": "ingest.dedup.index",
            "documents": n,
            "next_seq": self._next_seq,
            "params": {k: getattr(o, k) for k in _COMPAT},
            "story_params": {k: getattr(o, k) for k in _STORY_COMPAT} if self._story_has_fps else None,
        }
        return write_index(path, header, arrays)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], options: DedupOptions | None = None, *, workers: int = 1
    ) -> DedupEngine:
        """An engine holding the documents of the index at ``path``."""
        options = attrs.evolve(options or DedupOptions(), index_path="")
        eng = cls(options, workers=workers)
        eng._load_into(path)
        return eng

    def _load_into(self, path: str | os.PathLike[str]) -> None:
        if self._ids:
            raise ValueError("load an index before adding documents")
        header, arr = read_index(path)
        o = self.options
        for k, v in header["params"].items():
            if getattr(o, k) != v:
                raise IndexFormatError(
                    f"{path}: index was built with {k}={v!r}, options say {getattr(o, k)!r}"
                )
        if o.story_grouping:
            sp = header.get("story_params")
            if sp is None:
                raise IndexFormatError(
                    f"{path}: index has no story fingerprints; rebuild it with story_grouping on"
                )
            for k, v in sp.items():
                if getattr(o, k) != v:
                    raise IndexFormatError(
                        f"{path}: index was built with {k}={v!r}, options say {getattr(o, k)!r}"
                    )
        n = header["documents"]
        blob, ido = arr["id_blob"].tobytes(), arr["id_offsets"]
        sh, sho = arr["shingles"], arr["shingle_offsets"]
        fps, fpo = arr.get("fps"), arr.get("fps_offsets")
        exact = arr["exact"]
        for i in range(n):
            key = exact[i].tobytes()
            first = self._exact_first.setdefault(key, i)
            if first == i:
                fp = fps[fpo[i] : fpo[i + 1]] if (fps is not None and o.story_grouping) else EMPTY_U32
            else:
                fp = self._fps[first]
            self._append(blob[ido[i] : ido[i + 1]].decode("utf-8", "surrogatepass"), key, fp)
            self._rep[i] = first
        rows = np.arange(n, dtype=np.int64)
        reps = np.flatnonzero(self._rep[:n] == rows)
        copies = np.flatnonzero(self._rep[:n] != rows)
        slots = self._new_slots(reps)
        self._sigs[slots] = arr["sigs"][reps]
        self._slot[copies] = self._slot[self._rep[copies]]
        self._nsh[reps] = sho[reps + 1] - sho[reps]
        self._bottom[reps] = _bottom_k(sh, sho, reps)
        self._nsh[copies] = self._nsh[self._rep[copies]]
        self._store.put(reps, sh, sho, reps)
        self._store.share(copies, self._rep[copies])
        self._seq = array.array("q", arr["seq"].astype(np.int64).tobytes())
        self._kept = array.array("b", arr["kept"].astype(np.int8).tobytes())
        if o.story_grouping:
            self._story = [self._ids[int(r)] for r in arr["story"]]
        self._rank = array.array("q", bytes(8 * n))
        self._uf.parent = array.array("q", arr["root"].astype(np.int64).tobytes())
        if "composite" in arr:
            self._composite = set(arr["composite"].tolist())
        self._n_old = n
        self._next_seq = int(header["next_seq"])
