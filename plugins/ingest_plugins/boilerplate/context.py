"""Line and neighbourhood classification (jusText's idea, adapted to plain text).

Each non-blank line gets an initial class from its own features -- ``good``
(long, prose-like), ``neargood``, ``short`` or ``bad`` -- then ``short`` and
``neargood`` lines take their class from their neighbours: a short heading
between two article paragraphs becomes ``good``, a short line amid furniture
becomes ``bad``.  Lines removed by a pattern rule are ``bad``.
"""

from __future__ import annotations

from ..native import native_module
from .lines import BAD, GOOD, NEARGOOD, SHORT, LineFeatures, Page


def initial_class(f: LineFeatures, page: Page) -> str:
    """Class of one unit (line or paragraph) from its own features."""
    if f.index in page.removed or not f.n_words:
        return BAD
    o = page.options
    if f.n_chars < o.length_low:
        # a short but complete sentence with function words reads like prose
        if (
            o.short_sentence_words
            and f.n_words >= o.short_sentence_words
            and f.ends_sentence
            and f.text[-1:] not in ":;"
            and f.stop_density >= o.stopwords_low
        ):
            return NEARGOOD
        return SHORT
    if f.stop_density >= o.stopwords_high:
        if f.n_chars > o.length_high or f.n_sentences >= 2:
            return GOOD
        return NEARGOOD
    if f.stop_density >= o.stopwords_low:
        return NEARGOOD
    # sentences dense in names and numbers (wire copy, listings) have few stop words:
    # near-good, so that only a run of them (or a good neighbour) makes them prose
    if f.stop_density >= o.weak_prose_factor * o.stopwords_low and (
        (f.n_chars >= 2 * o.length_high and f.n_sentences >= 2) or (f.n_words >= 8 and f.text[-1:] in ".!?")
    ):
        return NEARGOOD
    return BAD


def initial_classes(page: Page) -> list[str]:
    """:func:`initial_class` of every unit (inlined: one loop, options read once)."""
    o = page.options
    removed = page.removed
    length_low = o.length_low
    length_high = o.length_high
    short_words = o.short_sentence_words
    sw_low = o.stopwords_low
    sw_high = o.stopwords_high
    weak = o.weak_prose_factor * o.stopwords_low
    feats = page.unit_features
    out = [BAD] * len(feats)
    for u, f in enumerate(feats):
        if f.index in removed or not f.n_words:
            continue
        dens = f.stop_density
        if f.n_chars < length_low:
            if (
                short_words
                and f.n_words >= short_words
                and f.ends_sentence
                and f.text[-1:] not in ":;"
                and dens >= sw_low
            ):
                out[u] = NEARGOOD
            else:
                out[u] = SHORT
        elif dens >= sw_high:
            out[u] = GOOD if (f.n_chars > length_high or f.n_sentences >= 2) else NEARGOOD
        elif dens >= sw_low or (
            dens >= weak
            and (
                (f.n_chars >= 2 * length_high and f.n_sentences >= 2)
                or (f.n_words >= 8 and f.text[-1:] in ".!?")
            )
        ):
            out[u] = NEARGOOD
    return out


def _neighbours(
    classes: list[str], skip: frozenset[str], transparent: list[bool] | None = None, max_distance: int = 0
) -> tuple[list[str], list[str]]:
    """For every index, the nearest class before/after it not in ``skip`` (edges count as bad).

    ``transparent`` units are looked through: a "Share" or "Advertisement" line
    between two paragraphs does not make them neighbours of furniture.  With
    ``max_distance`` > 0 a neighbour further away than that many units counts
    as bad: a long run of short lines is a list or a menu, not headings.
    """
    n = len(classes)
    if transparent is None:
        transparent = [False] * n
    far = max_distance if max_distance > 0 else n + 1
    prev = [BAD] * n
    nxt = [BAD] * n
    last = BAD
    gap = 0
    for i, (c, t) in enumerate(zip(classes, transparent)):
        if gap < far:
            prev[i] = last
        if t:
            continue
        if c not in skip:
            last = c
            gap = 0
        else:
            gap += 1
    last = BAD
    gap = 0
    for i in range(n - 1, -1, -1):
        if gap < far:
            nxt[i] = last
        if transparent[i]:
            continue
        c = classes[i]
        if c not in skip:
            last = c
            gap = 0
        else:
            gap += 1
    return prev, nxt


_SKIP_SHORT_NEAR = frozenset({SHORT, NEARGOOD})
_SKIP_SHORT = frozenset({SHORT})
_SKIP_NEAR = frozenset({NEARGOOD})


def resolve_python(
    initial: list[str],
    min_run: int = 3,
    transparent: list[bool] | None = None,
    max_distance: int = 0,
    sentence: list[bool] | None = None,
) -> list[str]:
    """Context resolution of ``short`` then ``neargood`` lines (jusText's algorithm).

    ``transparent[u]`` marks thin furniture lines (already removed) that the
    neighbour search looks through; ``sentence[u]`` marks units that read as
    sentences (only those form near-good runs: lists of titles do not).
    """
    classes = list(initial)
    if transparent is None:
        transparent = [False] * len(classes)
    if sentence is None:
        sentence = [True] * len(classes)
    if SHORT in classes:
        p1, n1 = _neighbours(initial, _SKIP_SHORT_NEAR, transparent, max_distance)
        p2, n2 = _neighbours(initial, _SKIP_SHORT, transparent, max_distance)
        for i, c in enumerate(initial):
            if c != SHORT:
                continue
            a, b = p1[i], n1[i]
            if a == GOOD and b == GOOD:
                classes[i] = GOOD
            elif a == BAD and b == BAD:
                classes[i] = BAD
            elif (a == BAD and p2[i] == NEARGOOD) or (b == BAD and n2[i] == NEARGOOD):
                classes[i] = GOOD
            else:
                classes[i] = BAD
    if NEARGOOD in classes:
        # a run of several near-good paragraphs is prose on its own (wire copy dense
        # in names and figures has few stop words): promote it before resolving
        run: list[int] = []
        for i in range(len(classes) + 1):
            c = classes[i] if i < len(classes) else BAD
            if c == NEARGOOD and sentence[i]:
                run.append(i)
            elif i == len(classes) or not (initial[i] == SHORT or transparent[i]):
                # short lines (resolved above) and thin furniture do not break a run
                if len(run) >= min_run:
                    for j in run:
                        classes[j] = GOOD
                run = []
        p, n = _neighbours(classes, _SKIP_NEAR, transparent)
        for i, c in enumerate(classes):
            if c == NEARGOOD:
                classes[i] = BAD if (p[i] == BAD and n[i] == BAD) else GOOD
    return classes


_native = native_module("ingest_plugins.boilerplate._context")
_CLASS_NAMES = (GOOD, NEARGOOD, SHORT, BAD)


def resolve(
    initial: list[str],
    min_run: int = 3,
    transparent: list[bool] | None = None,
    max_distance: int = 0,
    sentence: list[bool] | None = None,
) -> list[str]:
    """:func:`resolve_python`, computed by the compiled ``_context`` module when it is built."""
    n = len(initial)
    if (
        _native is not None
        and (transparent is None or len(transparent) == n)
        and (sentence is None or len(sentence) == n)
        and type(initial) is list
    ):
        # both bounds act the same anywhere in [0, n + 1], so clamp them into C's integer range
        lo_run, far = min(max(min_run, 0), n + 1), min(max(max_distance, 0), n + 1)
        return _native.resolve(initial, lo_run, transparent, far, sentence, _CLASS_NAMES)  # type: ignore[no-any-return]
    return resolve_python(initial, min_run, transparent, max_distance, sentence)
