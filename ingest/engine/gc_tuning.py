"""Garbage-collector settings for processes that churn through documents.

A pipeline allocates several container objects per line of every page
(features, removed-line records, history) and frees almost all of them
again by reference counting; none of that is cyclic garbage. CPython's
default collector still runs a young-generation pass every 700
allocations and, now and then, a full pass over every live object,
plugin modules and compiled regexes included.

The processes ``ingest`` owns run with :func:`tune_for_documents`: the forked
workers (:mod:`ingest.engine.fork_pool`), the local executor's pool processes
(a sharded run's shard tasks) and, while it runs the pipeline, ``ingest run``'s
own process (:func:`tuned`, which puts the settings back after). A process
that embeds the runner (an ETL job) may be someone else's and keeps its
settings; there the runner only pauses the collector while it unpickles a
batch of results (:func:`paused`), which builds thousands of objects at once.

Measured with ``ingest run`` of the header and boilerplate stages on 100,000
generated pages, two workers: 21.7-22.0 s with both against 24.3-25.4 s
without (three interleaved runs each); the parent's unpickling alone went
from 2.0-2.5 s to 1.3 s of CPU. The boilerplate stage alone over the 181
development pages, in one process: the collector took 8.4% of its time
with CPython's settings and 1.0% tuned (609 passes against 15, five rounds).
A sharded run of the whole pipeline on 20,000 generated documents (three
interleaved pairs): 6.7-7.2 s against 7.1-7.9 s with two workers, 13.4-14.9 s
against 14.2-18.1 s with one.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: allocations between young-generation passes (CPython's default is 700)
YOUNG_THRESHOLD = 10_000
#: young passes between middle passes, and middle passes between full ones
OLDER_THRESHOLDS = (10, 10)


def tune_for_documents() -> None:
    """Freeze what exists now (modules, plugins, stage objects: they live for
    the whole run, so full passes need not walk them) and collect less often.

    Call it once the stages are built, in a process ``ingest`` owns.
    Cyclic garbage is still collected, just in larger, rarer passes.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


@contextlib.contextmanager
def tuned() -> Iterator[None]:
    """:func:`tune_for_documents` for a while (``ingest run``'s run, in a process
    that may be a test runner calling the CLI): the settings found are put back
    after, and what was frozen is unfrozen unless something else had frozen first."""
    threshold = gc.get_threshold()
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if froze:
            gc.unfreeze()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for a short burst of allocation (unpickling a batch);
    left as it was found, so a program that turned it off keeps it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
