"""Housekeeping for prometheus-client's multiprocess mode across worker restarts.

A worker that dies leaves its value files behind. Counters and histograms of a dead
worker must stay (its requests happened); gauges of live-mode (in-flight requests,
queued items, ready) must go, or a crashed worker would count as in flight forever.
Each worker, when it starts, removes the live-gauge files of workers that are gone:
prometheus-client's mark_process_dead, which removes only those.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import sys
from pathlib import Path

from prometheus_client import multiprocess

_PID = re.compile(r"_(\d+)\.db$")
PR_SET_PDEATHSIG = 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_dead_workers() -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    pids = {int(m.group(1)) for p in Path(directory).glob("*.db") if (m := _PID.search(p.name))}
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            with contextlib.suppress(OSError):
                multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def die_with_parent() -> None:
    """On Linux, have the kernel SIGTERM this worker if uvicorn's supervisor dies (killed
    by the OOM killer, say), instead of it serving on as an orphan. Elsewhere, nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call took effect
        os.kill(os.getpid(), signal.SIGTERM)
