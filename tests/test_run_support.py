"""Memory a task frees goes back to the system: within ``steady_heap`` a block freed
mid-task leaves the process at once, where glibc would otherwise keep it in its heap
(and does again after it: reusing the heap is what is fast for the other tasks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh process: a large block freed (glibc then raises the size from which a
# block gets pages of its own), then 100 blocks of 1 MB made, each followed by a block
# of 64 KB that stays (so that freed space cannot merge and shrink the heap), and
# freed: how many MB more than before the large block stay in the process (the 64 KB
# blocks' 6 MB included).
LEFT_IN_HEAP = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from ingest.engine.run_support import steady_heap

    def rss_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def left():
        # counted from before the large block: after steady_heap the heap keeps it (its
        # pages then hold the first 1 MB blocks, which would not count from after it)
        before = rss_mb()
        large = np.ones(16 << 20, dtype=np.uint8)
        del large
        blocks, kept = [], []
        for _ in range(100):
            blocks.append(np.ones(1 << 20, dtype=np.uint8))
            kept.append(np.ones(64 << 10, dtype=np.uint8))
        del blocks
        return round(rss_mb() - before)

    if sys.argv[1] == "default":
        print(left())
    else:
        with steady_heap() as fixed:
            assert fixed
            inside = left()
        print(inside if sys.argv[1] == "steady" else left())
    """
)


def left_in_heap(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", LEFT_IN_HEAP, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_steady_heap_gives_freed_blocks_back_where_glibcs_default_keeps_them() -> None:
    assert left_in_heap("default") >= 90  # the 100 MB stay in the process
    assert left_in_heap("steady") <= 15
    assert left_in_heap("after") >= 90  # the heap is reused again after the task
