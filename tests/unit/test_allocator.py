"""The daemon's malloc settings hand freed frame-sized buffers back to the system (glibc, Linux)."""

from __future__ import annotations

import subprocess
import sys

# Frees a 3 MB block (glibc's default then serves blocks up to that size from the heap), allocates 50 x 2 MB
# with small blocks kept between them (so the freed space cannot shrink off the top of the heap), frees the
# large ones, and prints how many MB the resident set lost, then how many more `trim` gave back.
PROBE = """
import os, sys
import numpy as np
from streamguard.daemon.allocator import trim, tune_allocator

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if sys.argv[1] == "tuned":
    assert tune_allocator()
del_me = np.ones(3_000_000, np.uint8)
del del_me
blocks, kept = [], []
for _ in range(50):
    blocks.append(np.ones(2_000_000, np.uint8))
    kept.append(np.ones(20_000, np.uint8))
before = rss()
del blocks
freed = rss()
trim()
print((before - freed) / 1e6, (freed - rss()) / 1e6)
"""


def _released_mb(mode: str) -> tuple[float, float]:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True)
    on_free, on_trim = result.stdout.split()
    return float(on_free), float(on_trim)


def test_tuned_malloc_returns_freed_frames_at_once_and_trim_returns_them_otherwise() -> None:
    default_free, default_trim = _released_mb("default")
    tuned_free, _ = _released_mb("tuned")
    assert default_free < 20  # glibc's default keeps the 100 MB in its heap...
    assert default_trim > 80  # ...until a trim hands it back
    assert tuned_free > 80  # the fixed mmap threshold returns it on free
