"""Records scored twice after a crash: SIGKILL a scorer mid-stream, restart it, count.

    .venv/bin/python bench/redelivery.py [--events 40000] [--kill-after 8000]

On the embedded broker (or KAFKA_BOOTSTRAP_SERVERS), for the single and adaptive modes:
produce events, start `fraud-consumer run`, SIGKILL it once it has consumed
--kill-after records, restart it until idle, then read the outputs back and print how
many input offsets were scored twice and how many are missing (must be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers

from consumer.devtools.broker import EmbeddedBroker
from consumer.kafka.topics import ensure_topics
from tests.integration.helpers import (
    Scorer,
    landed,
    make_values,
    new_group,
    produce,
)


@contextlib.contextmanager
def _bootstrap() -> Iterator[str]:
    named = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if named:
        yield named
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--kill-after", type=int, default=8_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fraud-redelivery-"))
    with _bootstrap() as bootstrap:
        for mode in ("single", "adaptive"):
            base = f"redelivery-{mode}-{new_group()}"
            names = (f"{base}.in", f"{base}.out", f"{base}.dlq")
            ensure_topics({"bootstrap.servers": bootstrap}, dict.fromkeys(names, 3))
            sent = produce(bootstrap, names[0], make_values(args.events, malformed_every=97))
            group = new_group()
            first = Scorer(bootstrap, names, group, work, "--mode", mode, metrics=True)
            first.wait_for("fraud_events_consumed_total", args.kill_after)
            consumed = first.metric("fraud_events_consumed_total")
            first.signal(signal.SIGKILL)
            first.wait()
            second = Scorer(bootstrap, names, group, work, "--exit-when-idle", "2")
            if second.wait() != 0:
                raise SystemExit(second.output())
            counts = landed(bootstrap, names[1], names[2]).positions()
            duplicates = sum(n - 1 for n in counts.values())
            missing = len(set(sent.value) - set(counts))
            print(
                f"{mode:<9} killed after ~{consumed:,.0f} consumed: "
                f"{duplicates:,} scored twice, {missing} missing"
            )


if __name__ == "__main__":
    main()
