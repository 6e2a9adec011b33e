"""Smoke tests of the installed console script: every subcommand answers --help."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SUBCOMMANDS = ["run", "serve", "produce", "train", "broker", "demo", "batch", "dlq", "model"]


def _script() -> str:
    found = shutil.which("fraud-consumer", path=str(Path(sys.executable).parent))
    assert found, "the fraud-consumer console script is not installed next to this Python"
    return found


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    out = subprocess.run([_script(), command, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: fraud-consumer " + command)


def test_top_level_help_lists_subcommands() -> None:
    out = subprocess.run([_script(), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in SUBCOMMANDS:
        assert command in out.stdout


def test_bad_config_stops_startup_with_one_line() -> None:
    out = subprocess.run(
        [_script(), "run", "--model", "/nonexistent/model.txt"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "fraud-consumer: error: model not found: /nonexistent/model.txt"
    ]


def test_print_config_masks_secrets() -> None:
    out = subprocess.run(
        [_script(), "run", "--print-config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"FRAUD_KAFKA_SASL_PASSWORD": "hunter2", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "hunter2" not in out.stdout
    assert '"sasl.password": "*****"' in out.stdout


def test_broker_command_serves_kafka_and_stops_on_sigterm() -> None:
    from confluent_kafka.admin import AdminClient

    proc = subprocess.Popen(
        [_script(), "broker", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("embedded broker on 127.0.0.1:"), line
        address = line.split()[3]
        assert AdminClient({"bootstrap.servers": address}).list_topics(timeout=10) is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        proc.kill()
