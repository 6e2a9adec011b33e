"""Settings: command-line flags, FRAUD_* environment variables and librdkafka passthrough.

Precedence: flag, then environment variable, then default. Every option's variable is
FRAUD_ + its flag in upper case (``--max-batch`` -> ``FRAUD_MAX_BATCH``). librdkafka
settings pass through from a properties file (``--client-properties``), from
``FRAUD_KAFKA_<KEY>`` variables (``FRAUD_KAFKA_SASL_PASSWORD`` -> ``sasl.password``)
and from ``--kafka-config KEY=VALUE`` flags. Secrets are refused on the command line,
where any user of the machine can read them; they come from the environment or a file.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.scoring.errors import ConfigError

ENV_PREFIX = "FRAUD_"
_SECRET_MARKERS = (
    "password",
    "secret",
    "ssl.key.pem",
    "sasl.oauthbearer.config",
    "jaas",
    "user.info",
)
MASK = "*****"


def is_secret(key: str) -> bool:
    return any(marker in key.lower() for marker in _SECRET_MARKERS)


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

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    for opt in options:
        parser.add_argument(
            opt.flag,
            type=opt.type,
            default=None,
            choices=opt.choices,
            metavar=opt.metavar,
            help=f"{opt.help} [env {opt.env}; default {opt.default}]",
        )


def resolve(
    ns: argparse.Namespace, options: Sequence[Option], environ: Mapping[str, str]
) -> dict[str, Any]:
    """Flag, else environment variable, else default, for each option."""
    values: dict[str, Any] = {}
    for opt in options:
        value = getattr(ns, opt.dest, None)
        if value is None and opt.env in environ:
            raw = environ[opt.env]
            try:
                value = opt.type(raw)
            except (argparse.ArgumentTypeError, ValueError) as exc:
                raise ConfigError(f"{opt.env}: {exc}") from None
            if opt.choices and value not in opt.choices:
                raise ConfigError(
                    f"{opt.env}: must be one of {', '.join(opt.choices)}, got {raw!r}"
                )
        values[opt.dest] = opt.default if value is None else value
    return values


# -- librdkafka passthrough -----------------------------------------------------------
KAFKA_OPTIONS = (
    Option(
        "--bootstrap-servers", nonempty, "127.0.0.1:9092", "Kafka bootstrap servers, host:port,..."
    ),
    Option(
        "--client-properties",
        Path,
        None,
        "librdkafka properties file (key=value lines), e.g. security settings and secrets",
        metavar="FILE",
    ),
)


def add_kafka_passthrough(parser: argparse.ArgumentParser) -> None:
    add_options(parser, KAFKA_OPTIONS)
    for flag, what in (
        ("--kafka-config", "both clients"),
        ("--consumer-config", "the consumer"),
        ("--producer-config", "the producer"),
    ):
        parser.add_argument(
            flag,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"librdkafka setting for {what}; repeatable; no secrets here "
            f"(env {ENV_PREFIX}{flag[2:].split('-')[0].upper()}_<KEY>)",
        )


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    common: dict[str, str] = field(default_factory=dict)
    consumer: dict[str, str] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)

    def consumer_config(self, managed: dict[str, Any]) -> dict[str, Any]:
        return _merge(self.bootstrap_servers, managed, self.common, self.consumer)

    def producer_config(self, managed: dict[str, Any]) -> dict[str, Any]:
        return _merge(self.bootstrap_servers, managed, self.common, self.producer)

    def admin_config(self) -> dict[str, Any]:
        return _merge(self.bootstrap_servers, {}, self.common, {})


# Every producer of this project: acknowledged by all in-sync replicas, retried without
# duplicates or reordering, and partitioned like the Java clients (same key, same partition).
RELIABLE_PRODUCER: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "partitioner": "murmur2_random",
}

# Settings the scorer's correctness depends on; a passthrough may not change them.
MANAGED_KEYS = frozenset(
    {
        "bootstrap.servers",
        "group.id",
        "enable.auto.offset.store",
        "enable.auto.commit",
        "enable.partition.eof",
        "acks",
    }
)


def _merge(
    bootstrap: str, managed: dict[str, Any], common: dict[str, str], specific: dict[str, str]
) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap}
    defaults = {k: v for k, v in managed.items() if k not in MANAGED_KEYS}
    locked = {k: v for k, v in managed.items() if k in MANAGED_KEYS}
    conf.update(defaults)
    conf.update(common)
    conf.update(specific)
    conf.update(locked)
    return conf


def read_properties(path: Path) -> dict[str, str]:
    """Java-style ``key=value`` lines; ``#`` and ``!`` start comments."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read client properties {path}: {exc.strerror}") from None
    props = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{n}: expected key=value")
        props[key.strip()] = value.strip()
    return props


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        if is_secret(key):
            raise ConfigError(
                f"{flag} {key}: secrets are not accepted on the command line; set "
                f"{ENV_PREFIX}KAFKA_{key.upper().replace('.', '_')} or use --client-properties"
            )
        out[key] = value
    return out


def _env_pairs(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {
        name[len(prefix) :].lower().replace("_", "."): value
        for name, value in environ.items()
        if name.startswith(prefix) and len(name) > len(prefix)
    }


def kafka_settings(ns: argparse.Namespace, environ: Mapping[str, str]) -> KafkaSettings:
    values = resolve(ns, KAFKA_OPTIONS, environ)
    common: dict[str, str] = {}
    if values["client_properties"] is not None:
        common.update(read_properties(values["client_properties"]))
    common.update(_env_pairs(environ, ENV_PREFIX + "KAFKA_"))
    common.update(_pairs(ns.kafka_config, "--kafka-config"))
    consumer = _env_pairs(environ, ENV_PREFIX + "CONSUMER_") | _pairs(
        ns.consumer_config, "--consumer-config"
    )
    producer = _env_pairs(environ, ENV_PREFIX + "PRODUCER_") | _pairs(
        ns.producer_config, "--producer-config"
    )
    for key in (*common, *consumer, *producer):
        if key in MANAGED_KEYS:
            raise ConfigError(f"{key} is managed by fraud-consumer and cannot be overridden")
    return KafkaSettings(values["bootstrap_servers"], common, consumer, producer)


def masked(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``conf`` with secret values replaced by a mask, for printing and logs."""
    return {k: (MASK if is_secret(k) else v) for k, v in conf.items()}


def environ() -> Mapping[str, str]:
    return os.environ


# -- the model lifecycle flags `run` and `serve` share --------------------------------
LIFECYCLE_OPTIONS = (
    Option(
        "--model-poll-s",
        positive_float,
        5.0,
        "with --model DIR: look for a newly promoted model (DIR/CURRENT) this often; "
        "SIGHUP looks at once",
        metavar="SECONDS",
    ),
    Option(
        "--shadow-model",
        path,
        None,
        "also score every transaction with this challenger; it never decides",
        metavar="PATH",
    ),
    Option(
        "--canary-model",
        path,
        None,
        "let this model decide for --canary-percent of cards (by a hash of the card id)",
        metavar="PATH",
    ),
    Option("--canary-percent", percent, None, "share of cards the canary decides for (0-100)"),
)


def check_lifecycle(values: dict[str, Any]) -> None:
    """One line for a canary half configured."""
    if (values["canary_model"] is None) != (values["canary_percent"] is None):
        raise ConfigError("give --canary-model and --canary-percent together")
