"""Files read again when they change: a good version takes over, a bad one is kept out."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from consumer.ops.api_metrics import ReloadMetrics
from consumer.scoring.errors import ConfigError
from consumer.serve.reloading import Poller, Reloading


def _load(path: Path) -> str:
    text = path.read_text()
    if "bad" in text:
        raise ConfigError("bad content")
    return text


def _count(registry: CollectorRegistry, result: str) -> float | None:
    labels = {"secret": "tokens", "result": result}
    return registry.get_sample_value("fraud_api_secret_reloads_total", labels)


def test_a_change_is_loaded_a_bad_one_kept_out_until_the_next_change(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    registry = CollectorRegistry()
    r = Reloading("the file", [path], lambda: _load(path), ReloadMetrics("tokens", registry))
    assert r.current == "one" and r.check() is False
    tmp = tmp_path / "f.new"
    tmp.write_text("two")
    os.replace(tmp, path)  # a new file renamed over the old one
    assert r.check() is True and r.current == "two"
    path.write_text("bad!")
    assert r.check() is False and r.current == "two"
    assert r.check() is False  # the same bad version is not tried again
    assert (_count(registry, "loaded"), _count(registry, "failed")) == (1.0, 1.0)
    failing = {"secret": "tokens"}
    assert registry.get_sample_value("fraud_api_secret_reload_failing", failing) == 1.0
    path.write_text("three")
    assert r.check() is True and r.current == "three"
    assert registry.get_sample_value("fraud_api_secret_reload_failing", failing) == 0.0


def test_a_secret_volume_swap_is_a_change(tmp_path: Path) -> None:
    for version, text in (("..v1", "one"), ("..v2", "two")):
        (tmp_path / version).mkdir()
        (tmp_path / version / "f").write_text(text)
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "f").symlink_to("..data/f")
    r = Reloading("f", [tmp_path / "f"], lambda: _load(tmp_path / "f"), ReloadMetrics("tokens"))
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert r.check() is True and r.current == "two"


def test_a_file_that_goes_away_keeps_the_last_version(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    r = Reloading(
        "f", [path], lambda: _load(path) if path.exists() else _missing(), ReloadMetrics("tokens")
    )
    path.unlink()
    assert r.check() is False and r.current == "one"


def _missing() -> str:
    raise ConfigError("gone")


def test_the_poller_calls_its_checks_until_stopped_and_survives_a_failing_one() -> None:
    calls = threading.Semaphore(0)

    def broken() -> None:
        raise RuntimeError("a bug")

    poller = Poller(0.01, [broken, calls.release], "test-poller").start()
    for _ in range(3):
        assert calls.acquire(timeout=5)
    poller.stop()
