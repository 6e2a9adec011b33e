"""Kafka client settings: librdkafka passthrough and the settings this project manages.

librdkafka settings pass through from a properties file (``--client-properties``), from
``FRAUD_KAFKA_<KEY>`` variables (``FRAUD_KAFKA_SASL_PASSWORD`` -> ``sasl.password``)
and from ``--kafka-config KEY=VALUE`` flags (``--consumer-config``/``--producer-config``
and ``FRAUD_CONSUMER_``/``FRAUD_PRODUCER_`` for one client). Secrets are refused on the
command line, where any user of the machine can read them; they come from the
environment or a file, and are masked wherever settings are printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.options import ENV_PREFIX, Option, add_options, nonempty, resolve
from consumer.scoring.errors import ConfigError

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
        # one way to set it (`run --group-instance-id`): two members sharing an id fence
        # each other, so it must be as deliberate as the group id
        "group.instance.id",
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
