"""The scorer's comparison points in bench/stream.py, each run as its own process.

    python bench/stream_peers.py passthrough|passthrough-batched|per-record BOOTSTRAP IN OUT COUNT

- passthrough: poll a record, produce it unchanged with a delivery report: what Kafka
  and one Python process move with no decoding and no model, written the usual way.
- passthrough-batched: take whatever is buffered and produce it without delivery
  reports: the ceiling of one Python process on this broker.
- per-record: the textbook scorer, one record at a time: poll one, decode with fastavro,
  validate, build its features, predict one row, encode, produce; the same validation,
  features, model and thresholds as fraud-consumer (tests/oracle/per_row.py), no reason
  codes. The shape of a Quix Streams or Faust app doing the same job.

Both use fraud-consumer's producer settings (acks=all, idempotent), stop once COUNT
records are consumed (COUNT 0: on SIGTERM), flush, and print when the last output was
acknowledged.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Producer

from consumer.kafka.settings import RELIABLE_PRODUCER
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.models import load_model
from tests.oracle import per_row


def _clients(bootstrap: str, topic: str) -> tuple[Consumer, Producer]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"peer-{os.getpid()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "session.timeout.ms": 6000,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([topic])
    producer = Producer({"bootstrap.servers": bootstrap, **RELIABLE_PRODUCER, "linger.ms": 5})
    return consumer, producer


def passthrough(consumer: Consumer, producer: Producer, out: str, count: int) -> None:
    """The idiomatic at-least-once copy: poll a record, produce it with a delivery
    report, serve reports; what most Kafka services in Python look like without a model."""
    done = 0
    acked = [0]

    def delivered(err: object, _msg: object) -> None:
        if err is None:
            acked[0] += 1

    while not STOP and (count == 0 or done < count):
        m = consumer.poll(0.1)
        if m is None or m.error() is not None:
            continue
        while True:
            try:
                producer.produce(out, m.value(), m.key(), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        done += 1
        producer.poll(0)


def passthrough_batched(consumer: Consumer, producer: Producer, out: str, count: int) -> None:
    """The ceiling: take whatever is buffered, produce without delivery reports."""
    done = 0
    while not STOP and (count == 0 or done < count):
        first = consumer.poll(0.1)
        msgs = [] if first is None else [first, *consumer.consume(499, 0)]
        for m in msgs:
            if m.error() is None:
                while True:
                    try:
                        producer.produce(out, m.value(), m.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
                done += 1
        producer.poll(0)


def per_record(consumer: Consumer, producer: Producer, out: str, count: int) -> None:
    model = load_model(Path(__file__).resolve().parent.parent / "models", threads=1)
    codec = PlainAvroCodec()
    done = 0
    while not STOP and (count == 0 or done < count):
        m = consumer.poll(0.1)
        if m is None or m.error() is not None:
            continue
        done += 1
        ((kind, detail),) = per_row.score_values([m.value()], model, reason_codes=0)
        if kind != "scored":
            continue
        tx, score, decision, _ = detail
        value = codec.encode_score(
            {
                "transaction_id": tx["transaction_id"],
                "score": score,
                "decision": decision,
                "reason_codes": [],
                "model_name": model.name,
                "model_version": model.version,
                "event_time": tx["event_time"],
                "scored_at": tx["event_time"],
                "source_topic": m.topic(),
                "source_partition": m.partition(),
                "source_offset": m.offset(),
            }
        )
        while True:
            try:
                producer.produce(out, value, m.key())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)


STOP = False


def _stop(_signum: int, _frame: object) -> None:
    global STOP  # noqa: PLW0603 - a signal handler's flag
    STOP = True


def main() -> None:
    role, bootstrap, topic_in, topic_out, count = sys.argv[1:6]
    signal.signal(signal.SIGTERM, _stop)
    consumer, producer = _clients(bootstrap, topic_in)
    run = {
        "passthrough": passthrough,
        "passthrough-batched": passthrough_batched,
        "per-record": per_record,
    }[role]
    run(consumer, producer, topic_out, int(count))
    producer.flush(60)
    print(f"ACKED {time.time() * 1000:.0f}", flush=True)  # every output acknowledged
    consumer.close()


if __name__ == "__main__":
    main()
