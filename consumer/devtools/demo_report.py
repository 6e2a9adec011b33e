"""The demo's report: read the input, score and dead-letter topics back and grade them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from consumer.devtools.demo_models import model_lines
from consumer.kafka.topics import read_all
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.deadletter import DLQ_HEADER_PREFIX, dead_letter_source
from consumer.scoring.records import header_text
from consumer.scoring.schemas import DECISIONS

Position = tuple[int, int]  # (partition, offset) of an input record


@dataclass
class TopicData:
    labels: dict[Position, str] = field(default_factory=dict)  # legit | pattern | malformed:<kind>
    input_ts: dict[Position, int] = field(default_factory=dict)
    scores: list[dict[str, Any]] = field(default_factory=list)
    dead: list[tuple[Position, str]] = field(default_factory=list)  # (position, stage/reason)
    shadow: list[dict[str, Any]] = field(default_factory=list)  # the shadow's FraudScores


def read_topics(
    bootstrap: str,
    input_topic: str,
    output_topic: str,
    dlq_topic: str,
    shadow_topic: str | None = None,
) -> TopicData:
    data = TopicData()
    for msg in read_all(bootstrap, input_topic):
        pos = (msg.partition(), msg.offset())
        synthetic = header_text(msg.headers(), "synthetic.")
        malformed = synthetic.get("synthetic.malformed")
        data.labels[pos] = (
            f"malformed:{malformed}"
            if malformed
            else synthetic.get("synthetic.fraud_pattern", "unlabelled")
        )
        data.input_ts[pos] = msg.timestamp()[1]
    codec = PlainAvroCodec()
    data.scores = [codec.decode_score(m.value()) for m in read_all(bootstrap, output_topic)]
    for msg in read_all(bootstrap, dlq_topic):
        h = header_text(msg.headers(), DLQ_HEADER_PREFIX)
        reason = f"{h.get('dlq.error.stage')}/{h.get('dlq.error.reason')}"
        data.dead.append((dead_letter_source(msg.headers()), reason))
    if shadow_topic is not None:
        data.shadow = [codec.decode_score(m.value()) for m in read_all(bootstrap, shadow_topic)]
    return data


def _pct(n: float, d: float) -> str:
    return f"{100 * n / d:.1f}%" if d else "-"


class DemoReport:
    def __init__(self, data: TopicData, backlog_size: int) -> None:
        self.d = data
        self.backlog_size = backlog_size
        scored = Counter((s["source_partition"], s["source_offset"]) for s in data.scores)
        dead = Counter(pos for pos, _ in data.dead)
        inputs = set(data.labels)
        self.missing = inputs - set(scored) - set(dead)
        self.both = set(scored) & set(dead)
        self.unknown = (set(scored) | set(dead)) - inputs
        self.duplicates = sum(c - 1 for c in scored.values()) + sum(c - 1 for c in dead.values())
        self.accounted_for = not (self.missing or self.both or self.unknown)

    def render(self) -> str:
        d = self.d
        n_in = len(d.labels)
        malformed = sum(1 for v in d.labels.values() if v.startswith("malformed:"))
        lines = [
            f"Events in        {n_in:>8,}  ({n_in - malformed:,} valid, {malformed:,} malformed)",
            f"Scored           {len(d.scores):>8,}",
            f"Dead-lettered    {len(d.dead):>8,}",
        ]
        for reason, n in sorted(Counter(r for _, r in d.dead).items(), key=lambda kv: -kv[1]):
            lines.append(f"  {reason:<34}{n:>6,}")
        dl_positions = {pos for pos, _ in d.dead}
        caught_malformed = sum(
            1 for p, v in d.labels.items() if v.startswith("malformed:") and p in dl_positions
        )
        lines.append(f"  malformed events dead-lettered: {caught_malformed:,} of {malformed:,}")

        decisions = Counter(s["decision"] for s in d.scores)
        lines.append(
            "Decisions        "
            + "  ".join(
                f"{k} {decisions[k]:,} ({_pct(decisions[k], len(d.scores))})" for k in DECISIONS
            )
        )
        lines += self._fraud_lines()
        lines += model_lines(d.scores, d.shadow)
        lines += self._speed_lines()
        verdict = (
            "yes"
            if self.accounted_for
            else (
                f"NO: {len(self.missing)} missing, {len(self.both)} both scored and dead-lettered, "
                f"{len(self.unknown)} unknown"
            )
        )
        lines.append(
            f"Accounting       every input offset ended as a score or a dead letter, never "
            f"both, at least once: {verdict}; duplicates from redelivery: {self.duplicates:,} "
            "(at-least-once: downstream de-duplicates by source_topic/partition/offset)"
        )
        return "\n".join(lines)

    def _fraud_lines(self) -> list[str]:
        by_label: dict[str, Counter[str]] = {}
        for s in self.d.scores:
            label = self.d.labels.get((s["source_partition"], s["source_offset"]), "unlabelled")
            by_label.setdefault(label, Counter())[s["decision"]] += 1
        fraud = {k: v for k, v in by_label.items() if k not in ("legit", "unlabelled")}
        total_fraud = sum(sum(c.values()) for c in fraud.values())
        flagged = sum(c["REVIEW"] + c["DECLINE"] for c in fraud.values())
        legit = by_label.get("legit", Counter())
        legit_flagged = legit["REVIEW"] + legit["DECLINE"]
        declined = sum(c["DECLINE"] for c in by_label.values())
        declined_fraud = sum(c["DECLINE"] for c in fraud.values())
        out = [
            f"Fraud caught     {flagged:,} of {total_fraud:,} fraudulent events flagged "
            f"REVIEW or DECLINE ({_pct(flagged, total_fraud)}), by the generator's labels",
        ]
        for label, c in sorted(fraud.items()):
            n = sum(c.values())
            hit = c["REVIEW"] + c["DECLINE"]
            out.append(f"  {label:<22}{hit:>6,} of {n:>6,} ({_pct(hit, n)})")
        n_legit = sum(legit.values())
        out.append(
            f"False alarms     {legit_flagged:,} of {n_legit:,} legitimate events flagged "
            f"({_pct(legit_flagged, n_legit)})"
        )
        out.append(
            f"Declines        {declined:,} declined, {_pct(declined_fraud, declined)} of them fraud"
        )
        return out

    def _speed_lines(self) -> list[str]:
        d = self.d
        if not d.scores:
            return []
        ordered = sorted(d.input_ts.items(), key=lambda kv: kv[1])
        backlog = {pos for pos, _ in ordered[: self.backlog_size]}
        back = [
            s["scored_at"]
            for s in d.scores
            if (s["source_partition"], s["source_offset"]) in backlog
        ]
        out = []
        if len(back) > 1:
            span = (max(back) - min(back)) / 1000
            out.append(
                f"Throughput       backlog of {len(back):,} scored in {span:.2f}s: "
                f"{len(back) / span if span else float('inf'):,.0f} events/s"
            )
        live = np.array(
            [
                s["scored_at"] - d.input_ts[(s["source_partition"], s["source_offset"])]
                for s in d.scores
                if (s["source_partition"], s["source_offset"]) not in backlog
                and (s["source_partition"], s["source_offset"]) in d.input_ts
            ],
            dtype=np.float64,
        )
        if len(live):
            p50, p95, p99 = np.percentile(live, [50, 95, 99])
            out.append(
                f"Latency (live)   record timestamp -> scored: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
                f"p99 {p99:.0f} ms, max {live.max():.0f} ms over {len(live):,} events\n"
                "                 (on the embedded broker mostly its own: its latency grows "
                "with the data it holds; see README)"
            )
        return out
