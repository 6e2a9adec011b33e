"""Options: every command's flags, each with a FRAUD_* environment variable behind it,
resolved once into the command's typed settings.

Precedence: flag, then environment variable, then default. Every option's variable is
FRAUD_ + its flag in upper case (``--max-batch`` -> ``FRAUD_MAX_BATCH``); an alias flag
(an old name kept working) has its own variable too. Each default is declared once,
here or in the command's option table; the groups below (model, reason codes, logging,
the metrics server) are shared by the commands that take them. Kafka client settings
are in ``consumer/kafka/settings.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from consumer.ops import logs
from consumer.scoring.errors import ConfigError

ENV_PREFIX = "FRAUD_"
T = TypeVar("T")


# -- value types (raise ArgumentTypeError, which argparse turns into one line) ----------
def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _whole(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def percent(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {text}")
    return value


def port(text: str) -> int:
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0-65535), got {value}")
    return value


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def path(text: str) -> Path:
    """A path; an empty one is an error (``Path("")`` would quietly mean the current
    directory)."""
    return Path(nonempty(text))


@dataclass(frozen=True)
class Option:
    """A flag with a FRAUD_* environment variable behind it."""

    flag: str
    type: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    aliases: tuple[str, ...] = ()  # older flag names that keep working

    @property
    def dest(self) -> str:
        return _dest(self.flag)

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def alias_envs(self) -> tuple[str, ...]:
        return tuple(ENV_PREFIX + _dest(a).upper() for a in self.aliases)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    for opt in options:
        also = f"; alias {', '.join(opt.aliases)}" if opt.aliases else ""
        parser.add_argument(
            opt.flag,
            *opt.aliases,
            dest=opt.dest,
            type=opt.type,
            default=None,
            choices=opt.choices,
            metavar=opt.metavar,
            help=f"{opt.help} [env {opt.env}; default {opt.default}{also}]",
        )


def resolve(
    ns: argparse.Namespace, options: Sequence[Option], environ: Mapping[str, str]
) -> dict[str, Any]:
    """Flag, else environment variable (or an alias's), else default, for each option."""
    values: dict[str, Any] = {}
    for opt in options:
        value = getattr(ns, opt.dest, None)
        if value is None:
            for name in (opt.env, *opt.alias_envs):
                if name in environ:
                    value = _from_env(opt, name, environ[name])
                    break
        values[opt.dest] = opt.default if value is None else value
    return values


def _from_env(opt: Option, name: str, raw: str) -> Any:
    try:
        value = opt.type(raw)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if opt.choices and value not in opt.choices:
        raise ConfigError(f"{name}: must be one of {', '.join(opt.choices)}, got {raw!r}")
    return value


def to_json(settings: Any) -> str:
    """A settings dataclass as JSON, to hand it whole to another process."""
    return msgspec.json.encode(settings, enc_hook=str).decode()


def from_json(cls: type[T], text: str) -> T:
    """The settings ``to_json`` wrote, with their types."""
    return msgspec.json.decode(text, type=cls, dec_hook=_decode_path)


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def environ() -> Mapping[str, str]:
    return os.environ


def printable(settings: Any) -> dict[str, Any]:
    """A settings dataclass as JSON-able values (paths as text)."""
    return {
        k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()
    }


# -- option groups shared by several commands --------------------------------------------
MODEL_OPTION = Option(
    "--model",
    path,
    None,
    "model file, card, or directory (its CURRENT, else its newest version); unset: "
    "./models, else the checkout's models/",
    metavar="PATH",
)
SHADOW_OPTION = Option(
    "--shadow-model",
    path,
    None,
    "also score every transaction with this model; it never decides",
    metavar="PATH",
)
LIFECYCLE_OPTIONS = (
    Option(
        "--model-poll-s",
        positive_float,
        5.0,
        "with --model DIR: look for a newly promoted model (DIR/CURRENT) this often; "
        "SIGHUP looks at once",
        metavar="SECONDS",
    ),
    SHADOW_OPTION,
    Option(
        "--canary-model",
        path,
        None,
        "let this model decide for --canary-percent of cards (by a hash of the card id)",
        metavar="PATH",
    ),
    Option("--canary-percent", percent, None, "share of cards the canary decides for (0-100)"),
)
REASON_CODES_OPTION = Option(
    "--reason-codes", non_negative_int, 3, "reason codes per REVIEW/DECLINE score (0: none)"
)
LOG_OPTIONS = (
    Option("--log-level", str.upper, "INFO", "log level", choices=logs.LEVELS),
    Option("--log-format", str, "text", "log line format", choices=logs.FORMATS),
)

# Card history for models that read it (scoring/feature_sets.py): the shared store and the
# merchant risk snapshot. The stream also takes --state-dir (its embedded RocksDB).
HISTORY_OPTIONS = (
    Option(
        "--redis-url",
        nonempty,
        None,
        "card state in this Redis (redis:// or rediss://): the stream writes it, the API "
        "reads it; unset: the stream keeps RocksDB under --state-dir, the API cannot serve "
        "a history model",
        metavar="URL",
    ),
    Option("--redis-prefix", nonempty, "fraud:", "prefix of every Redis key"),
    Option(
        "--redis-timeout-ms",
        positive_int,
        50,
        "give up on a Redis call after this long (the API then answers by --on-deadline)",
    ),
    Option(
        "--merchant-risk",
        path,
        None,
        "merchant risk snapshot (a card, or a directory: its CURRENT, reloaded when it "
        "changes); default: merchant-risk/ beside the model's card",
        metavar="PATH",
    ),
    Option(
        "--merchant-risk-poll-s",
        positive_float,
        60.0,
        "look for a newly published merchant risk snapshot this often",
        metavar="SECONDS",
    ),
)

METRICS_SERVER_OPTIONS = (
    Option("--metrics-address", nonempty, "0.0.0.0", "address for /metrics /healthz /readyz"),  # noqa: S104
    Option("--metrics-port", port, 9108, "port for /metrics /healthz /readyz (0: off)"),
)


def inference_threads_option(default: int, help: str) -> Option:
    return Option("--inference-threads", non_negative_int, default, help)


def check_canary(canary_model: Path | None, canary_percent: float | None) -> None:
    """One line for a canary half configured."""
    if (canary_model is None) != (canary_percent is None):
        raise ConfigError("give --canary-model and --canary-percent together")
