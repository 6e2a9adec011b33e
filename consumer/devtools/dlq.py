"""`fraud-consumer dlq`: look into the dead-letter topic and replay what was fixed.

`summary` counts dead letters by source and reason and lists where they came from
(topic[partition]@offset), never their payload. `replay` produces the original records
(key, value, original headers, timestamp) back to a topic, e.g. the input topic once the
upstream bug or the scorer is fixed, adding a `dlq.replayed.from` header so a record that
fails again can be traced to its earlier dead letter.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException

from consumer.kafka.settings import RELIABLE_PRODUCER, add_kafka_passthrough, kafka_settings
from consumer.kafka.topics import TopicWriter, read_all
from consumer.options import Option, add_options, nonempty, resolve
from consumer.scoring.deadletter import DLQ_HEADER_PREFIX, original_headers
from consumer.scoring.errors import ConfigError
from consumer.scoring.records import header_text

log = logging.getLogger(__name__)

DLQ_OPTIONS = (
    Option("--dlq-topic", nonempty, "payments.transactions.dlq", "dead-letter topic to read"),
    Option("--reason", nonempty, None, "only dead letters with this reason code"),
    Option("--stage", nonempty, None, "only dead letters of this stage"),
)


def add_dlq_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "dlq",
        help="summarize or replay the dead-letter topic",
        description="Summarize the dead-letter topic (no payloads), or replay dead letters.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    summary = actions.add_parser("summary", help="counts by source, stage and reason")
    replay = actions.add_parser("replay", help="produce the original records to a topic")
    for q in (summary, replay):
        add_kafka_passthrough(q)
        add_options(q, DLQ_OPTIONS)
        q.set_defaults(handler=dlq_command)
    replay.add_argument("--to-topic", required=True, help="where to produce the originals")
    replay.add_argument("--dry-run", action="store_true", help="count what would be replayed")


def dlq_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    v = resolve(ns, DLQ_OPTIONS, environ)
    kafka = kafka_settings(ns, environ)
    bootstrap = kafka.bootstrap_servers
    try:
        messages = read_all(bootstrap, v["dlq_topic"], extra={**kafka.common, **kafka.consumer})
    except KafkaException as exc:
        raise ConfigError(f"cannot read {v['dlq_topic']}: {exc.args[0]}") from None
    except LookupError as exc:
        raise ConfigError(str(exc)) from None
    with_headers = [(m, header_text(m.headers(), DLQ_HEADER_PREFIX)) for m in messages]
    chosen = [
        (m, h)
        for m, h in with_headers
        if (v["reason"] is None or h.get("dlq.error.reason") == v["reason"])
        and (v["stage"] is None or h.get("dlq.error.stage") == v["stage"])
    ]
    if ns.action == "summary":
        print(_summary(chosen, v["dlq_topic"]))
        return 0
    return _replay(
        [m for m, _ in chosen], kafka.producer_config(RELIABLE_PRODUCER), ns.to_topic, ns.dry_run
    )


def _summary(messages: list[tuple[Any, dict[str, str]]], topic: str) -> str:
    by_reason: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    failed_at = []
    for _, h in messages:
        by_reason[f"{h.get('dlq.error.stage', '?')}/{h.get('dlq.error.reason', '?')}"] += 1
        by_source[h.get("dlq.source.topic", "?")] += 1
        if "dlq.failed.at" in h:
            failed_at.append(h["dlq.failed.at"])
    lines = [f"{len(messages):,} dead letters in {topic}"]
    if failed_at:
        lines.append(f"  failed between {min(failed_at)} and {max(failed_at)}")
    lines.append("by source topic:")
    lines += [f"  {s:<40}{n:>10,}" for s, n in by_source.most_common()]
    lines.append("by stage/reason:")
    lines += [f"  {r:<40}{n:>10,}" for r, n in by_reason.most_common()]
    lines.append("first positions (topic[partition]@offset):")
    for _, h in messages[:10]:
        lines.append(
            f"  {h.get('dlq.source.topic')}[{h.get('dlq.source.partition')}]"
            f"@{h.get('dlq.source.offset')}  {h.get('dlq.error.reason')}: "
            f"{h.get('dlq.error.message')}"
        )
    return "\n".join(lines)


def _replay(messages: list[Any], conf: dict[str, Any], topic: str, dry_run: bool) -> int:
    if dry_run:
        print(f"would replay {len(messages):,} dead letters to {topic}")
        return 0
    writer = TopicWriter(conf, topic, total=len(messages))
    for m in messages:
        origin = f"{m.topic()}[{m.partition()}]@{m.offset()}"
        headers = [*original_headers(m.headers()), ("dlq.replayed.from", origin.encode())]
        writer.send(m.key(), m.value(), headers, m.timestamp()[1])
    writer.close()
    print(f"replayed {len(messages):,} dead letters to {topic}")
    return 0
