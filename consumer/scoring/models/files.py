"""Where a model lives on disk: a card and its model file, in a directory whose
``CURRENT`` file names the version it serves.

A model is two files: ``<name>-<version>.txt`` (LightGBM text format) and
``<name>-<version>.json`` (its card). ``CURRENT`` holds one card's file name, written by
an atomic rename; a directory without it serves its newest version.
"""

from __future__ import annotations

import re
from pathlib import Path

from consumer.scoring.atomic_files import CURRENT, sha256_file, write_current
from consumer.scoring.errors import ModelError

__all__ = [
    "CURRENT",
    "default_model_path",
    "resolve_card_path",
    "sha256_file",
    "write_current",
]


def _version_key(card_path: Path) -> tuple[tuple[int, ...], str]:
    version = card_path.stem.rsplit("-", 1)[-1]
    numbers = tuple(int(n) for n in re.findall(r"\d+", version))
    return numbers, card_path.name


def resolve_card_path(path: Path) -> Path:
    """The model card for ``path``: a card, a model file, or a directory: the card its
    ``CURRENT`` file names (the promoted version), else its newest version."""
    if path.is_dir():
        current = path / CURRENT
        if current.exists():
            return _current_card(current)
        cards = [p for p in path.glob("*.json") if (p.with_suffix(".txt")).exists()]
        if not cards:
            raise ModelError(f"no model (<name>-<version>.txt with its .json card) in {path}")
        return max(cards, key=_version_key)
    if path.suffix == ".json":
        return path
    if not path.exists():
        raise ModelError(f"model not found: {path}")
    return path.with_suffix(".json")


def _current_card(current: Path) -> Path:
    """The card a CURRENT file names: one file name in the same directory (a card, a
    model file, or their common stem)."""
    try:
        name = current.read_text().strip()
    except OSError as exc:
        raise ModelError(f"{current} is unreadable: {exc.strerror}") from None
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ModelError(f"{current} must name one model card in its directory")
    stem = name.removesuffix(".json").removesuffix(".txt")
    card = current.parent / f"{stem}.json"
    if not card.exists():
        raise ModelError(f"{current} names {stem}, which is not in {current.parent}")
    return card


def default_model_path() -> Path:
    """``./models`` when it exists, else the ``models/`` beside this package (a checkout)."""
    here = Path("models")
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "models"
