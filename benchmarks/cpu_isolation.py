"""Keep one CPU for the process under test: every other process and thread on the host is
moved off it for the duration of a measurement, then put back.

On a shared 2-vCPU host other work scheduled onto the server's CPU made it wait on the run
queue for tens of ms per run (its /proc schedstat), which shows up as lateness that is not
the server's. Needs permission to set other processes' affinity (root, or the same user).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _tasks() -> Iterator[int]:
    """Every thread id of every user-space process (kernel threads have no command line)."""
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if not (process / "cmdline").read_bytes():
                continue
            yield from (int(task.name) for task in (process / "task").iterdir())
        except OSError:  # it exited meanwhile
            continue


@contextmanager
def cpu_kept_for(cpu: int) -> Iterator[int]:
    """Moves every task that may run on `cpu` and elsewhere off it; yields how many moved.

    Tasks pinned to one CPU (the server under test, its client) are left as they are.
    """
    full = os.sched_getaffinity(0) | {cpu}
    existing = set(_tasks())
    saved: dict[int, set[int]] = {}
    for tid in existing:
        try:
            mask = os.sched_getaffinity(tid)
            if cpu in mask and len(mask) > 1:
                os.sched_setaffinity(tid, mask - {cpu})
                saved[tid] = mask
        except OSError:  # gone, or not ours to move
            continue
    try:
        yield len(saved)
    finally:
        narrowed = full - {cpu}
        for tid in _tasks():
            try:
                if tid in saved:
                    os.sched_setaffinity(tid, saved[tid])
                elif tid not in existing and os.sched_getaffinity(tid) == narrowed:
                    # Started meanwhile by a moved process: it inherited the narrowed mask.
                    os.sched_setaffinity(tid, full)
            except OSError:
                continue
