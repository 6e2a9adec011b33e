"""Writing a file that readers see whole or not at all: the bytes go to a hidden
temporary file beside it, are flushed to disk, and the temporary file is renamed over
the target (atomic on one filesystem). A failure leaves the target as it was."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
