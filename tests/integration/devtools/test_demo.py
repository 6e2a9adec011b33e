"""`fraud-consumer demo`, shortened: every face of the product runs and reports."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_the_demo_shows_every_face_and_accounts_for_every_event() -> None:
    args = ["--duration", "8", "--rate", "400", "--backlog", "3000", "--scorers", "1",
            "--partitions", "2", "--batch-rows", "20000", "--history-rows", "110000"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "demo", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for expected in (
        "every input offset ended as a score or a dead letter, never both, at least once: yes",
        "promoted fraud-lgbm-1.1.0.json",  # hot reload
        "each partition switched version at most once: yes",
        "Shadow           1.1.0 scored",  # shadow topic
        "rolled back: CURRENT names fraud-lgbm-1.0.0.json",
        "compared with    fraud-lgbm-1.1.0",  # batch at scale with a comparison
        "engine local, ",
        "POST /v1/score one transaction -> 200",  # the API
        '"reason": "negative_amount"',
        "decided by: 1.0.0",  # the API's canary
        "M1 history",  # card history: the uplift table
        "merchant-risk-",  # the snapshot built of arrived labels
        "card_testing_burst",  # history-only fraud, by pattern, in batch with context
    ):
        assert expected in out, f"{expected!r} not in:\n{out}"
    assert "1.1.0 decided" in out  # scores after the promotion
