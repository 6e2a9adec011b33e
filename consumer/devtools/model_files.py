"""`fraud-consumer model publish|promote`: put a model into a served model directory and
name it in ``CURRENT``, safely.

The services hot-reload what ``CURRENT`` names (scoring/reloader.py) and refuse a model
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

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from consumer.ops.atomic_files import write_atomically
from consumer.scoring.errors import ConfigError, ModelError
from consumer.scoring.model import load_model, resolve_card_path

CURRENT = "CURRENT"


def add_model_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "model",
        help="publish a model into a served model directory; promote or roll back",
        description="Copy a verified model into the directory `run` and `serve` read "
        "(--model DIR) and name it in CURRENT, every step atomic.",
    )
    commands = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    pub = commands.add_parser(
        "publish",
        help="copy a model (card or directory) into DIR, verified",
        description="Verify SOURCE (a card, a model file, or a directory: what it serves), "
        "copy its model file and card into --to, verify the copies; with --promote, "
        "name it in CURRENT.",
    )
    pub.add_argument("source", type=Path, metavar="SOURCE")
    pub.add_argument("--to", type=Path, required=True, metavar="DIR", help="the model directory")
    pub.add_argument("--promote", action="store_true", help="then name it in CURRENT")
    pub.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing if DIR already holds a model (seeding a new volume)",
    )
    pub.set_defaults(handler=publish_command)
    pro = commands.add_parser(
        "promote",
        help="name a card of DIR in CURRENT (a rollback names the old one)",
        description="Verify DIR/CARD, then rename a new CURRENT naming it over the old.",
    )
    pro.add_argument(
        "card", metavar="CARD", help="a card file name in DIR, e.g. fraud-lgbm-1.1.0.json"
    )
    pro.add_argument("--dir", type=Path, required=True, metavar="DIR", help="the model directory")
    pro.set_defaults(handler=promote_command)


def _holds_a_model(directory: Path) -> bool:
    return (directory / CURRENT).exists() or any(directory.glob("*.json"))


def _copy_in(source: Path, directory: Path) -> None:
    """``source`` into ``directory`` under its own name, appearing whole or not at all."""
    write_atomically(directory / source.name, source.read_bytes())


def write_current(directory: Path, card: str) -> None:
    write_atomically(directory / CURRENT, (card + "\n").encode())


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


def publish_command(ns: argparse.Namespace, _environ: Mapping[str, str]) -> int:
    print(publish(ns.source, ns.to, ns.promote, ns.if_empty))
    return 0


def promote_command(ns: argparse.Namespace, _environ: Mapping[str, str]) -> int:
    try:
        print(promote(ns.dir, ns.card))
    except ModelError as exc:
        raise ModelError(f"not promoted: {exc}") from None
    return 0
