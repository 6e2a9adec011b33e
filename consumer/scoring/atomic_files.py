"""Files readers see whole or not at all, and the published-artifact conventions built on
them (models, merchant risk snapshots): a ``CURRENT`` file naming the card in force, and
checksums.

A write goes to a hidden temporary file beside the target, is flushed to disk, and the
temporary file is renamed over the target (atomic on one filesystem). A failure leaves
the target as it was."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CURRENT = "CURRENT"


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


def write_current(directory: Path, card: str) -> None:
    """Name ``card`` (a file name in ``directory``) in its CURRENT file, atomically."""
    write_atomically(directory / CURRENT, (card + "\n").encode())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
