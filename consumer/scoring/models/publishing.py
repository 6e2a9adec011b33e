"""Publishing and promotion: put a model into a served model directory and name it in
``CURRENT``, safely (`fraud-consumer model publish|promote`).

The services hot-reload what ``CURRENT`` names (``reloader.py``) and refuse a model
that fails its checks, so a bad file never serves; these commands refuse it earlier, on
the operator's side, and make every step atomic. ``publish`` verifies the model, copies
the model file and then its card into the directory under temporary names and renames
them in (a reader never sees half a file), verifies the copies, and with ``--promote``
renames a new ``CURRENT`` over the old. ``promote`` (and so a rollback) only renames
``CURRENT``, after verifying the card it names. A directory without ``CURRENT`` serves its
newest card; ``publish`` first pins what it serves, so publishing a newer version never
promotes it by accident.
"""

from __future__ import annotations

from pathlib import Path

from consumer.scoring.atomic_files import write_atomically
from consumer.scoring.errors import ConfigError
from consumer.scoring.models.files import CURRENT, resolve_card_path, write_current
from consumer.scoring.models.fraud_model import load_model


def _holds_a_model(directory: Path) -> bool:
    return (directory / CURRENT).exists() or any(directory.glob("*.json"))


def _copy_in(source: Path, directory: Path) -> None:
    """``source`` into ``directory`` under its own name, appearing whole or not at all."""
    write_atomically(directory / source.name, source.read_bytes())


def publish(source: Path, directory: Path, promote: bool = False, if_empty: bool = False) -> str:
    """Returns what it did, in one line. ModelError for a model that fails its checks."""
    card_path = resolve_card_path(source)
    model = load_model(card_path)  # card, checksum, features, thresholds, a probe
    if if_empty and directory.is_dir() and _holds_a_model(directory):
        return f"{directory} already holds a model; nothing published"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc.strerror}") from None
    if not (directory / CURRENT).exists() and any(directory.glob("*.json")):
        # pin what the directory serves now, so the new card does not win as the newest
        write_current(directory, resolve_card_path(directory).name)
    model_file = card_path.parent / model.card.model_file
    try:
        _copy_in(model_file, directory)
        _copy_in(card_path, directory)  # the card last: it is what makes a version visible
    except OSError as exc:
        raise ConfigError(f"cannot write to {directory}: {exc.strerror}") from None
    load_model(directory / card_path.name)  # the copies, checked where they will be read
    if promote or not (directory / CURRENT).exists():
        write_current(directory, card_path.name)
        return f"published {card_path.name} to {directory} and named it in {CURRENT}"
    serving = (directory / CURRENT).read_text().strip()
    return f"published {card_path.name} to {directory}; {CURRENT} still names {serving}"


def promote(directory: Path, card: str) -> str:
    if "/" in card or card in ("", ".", ".."):
        raise ConfigError(f"give the card's file name in {directory}, not a path: {card!r}")
    name = card if card.endswith(".json") else card + ".json"
    load_model(directory / name)
    write_current(directory, name)
    return f"{CURRENT} in {directory} names {name}"
