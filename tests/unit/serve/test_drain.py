"""The drain in front of uvicorn's signal handlers: with one worker SIGTERM starts it, with
several the supervisor's SIGUSR2; the stop goes on to uvicorn after the window, at once on
Ctrl-C during it; and the app while it drains."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator, MutableMapping
from types import FrameType
from typing import Any

import pytest

from consumer.serve.app import ScoringApp
from consumer.serve.drain import DRAIN_SIGNAL, Drain
from consumer.serve.settings import ServeSettings


@pytest.fixture
def uvicorn_handlers() -> Iterator[list[tuple[float, int]]]:
    """Stands for uvicorn's handle_exit: records when each signal reached it."""
    reached: list[tuple[float, int]] = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, DRAIN_SIGNAL)}

    def handle_exit(sig: int, _frame: FrameType | None) -> None:
        reached.append((time.monotonic(), sig))

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle_exit)
    yield reached
    for sig, handler in before.items():
        signal.signal(sig, handler)


def _drain(window: float, *, serving: bool = True, supervised: bool = False) -> Drain:
    return Drain(window, lambda: None, lambda: serving, supervised=supervised)


def _run(drain: Drain, signals: list[int], until: float) -> float:
    """Install, send ``signals`` 10 ms apart, run the loop ``until`` seconds: when sent."""

    async def main() -> float:
        drain.install(asyncio.get_running_loop())
        sent = time.monotonic()
        for sig in signals:
            os.kill(os.getpid(), sig)
            await asyncio.sleep(0.01)
        await asyncio.sleep(until)
        return sent

    return asyncio.run(main())


def test_sigterm_starts_the_window_then_goes_on_to_uvicorn(
    uvicorn_handlers: list[tuple[float, int]],
) -> None:
    started: list[float] = []
    drain = Drain(0.3, lambda: started.append(time.monotonic()), lambda: True, supervised=False)
    sent = _run(drain, [signal.SIGTERM], until=0.6)
    assert drain.draining and len(started) == 1 and started[0] - sent < 0.1
    assert [sig for _, sig in uvicorn_handlers] == [signal.SIGTERM]
    assert 0.3 <= uvicorn_handlers[0][0] - sent < 0.5


def test_sigint_during_the_window_ends_it_a_repeated_sigterm_does_not(
    uvicorn_handlers: list[tuple[float, int]],
) -> None:
    drain = _drain(5.0)
    sent = _run(drain, [signal.SIGTERM, signal.SIGTERM], until=0.1)
    assert uvicorn_handlers == [] and drain.draining
    _run(drain, [signal.SIGINT], until=0.05)  # Ctrl-C again
    assert [sig for _, sig in uvicorn_handlers] == [signal.SIGINT]
    assert uvicorn_handlers[0][0] - sent < 1.0


@pytest.mark.parametrize(("window", "serving"), [(0.0, True), (5.0, False)])
def test_no_window_or_nothing_served_yet_passes_the_signal_on_at_once(
    uvicorn_handlers: list[tuple[float, int]], window: float, serving: bool
) -> None:
    drain = _drain(window, serving=serving)
    _run(drain, [signal.SIGTERM], until=0.1)
    assert drain.draining is serving and [s for _, s in uvicorn_handlers] == [signal.SIGTERM]


def test_a_supervised_worker_drains_on_sigusr2_and_stops_at_once_on_sigterm(
    uvicorn_handlers: list[tuple[float, int]],
) -> None:
    drain = _drain(0.2, supervised=True)
    sent = _run(drain, [DRAIN_SIGNAL], until=0.4)
    assert drain.draining
    assert [sig for _, sig in uvicorn_handlers] == [signal.SIGTERM]  # as uvicorn's stop
    assert 0.2 <= uvicorn_handlers[0][0] - sent < 0.4
    other = _drain(5.0, supervised=True)  # SIGHUP's rolling restart: no window
    _run(other, [signal.SIGTERM], until=0.05)
    assert not other.draining and len(uvicorn_handlers) == 2


def test_without_uvicorn_handlers_in_place_it_installs_nothing() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, DRAIN_SIGNAL)}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        _drain(1.0, supervised=True).install(asyncio.new_event_loop())
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(DRAIN_SIGNAL) == before[DRAIN_SIGNAL]
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_while_draining_the_app_is_not_ready_and_asks_clients_to_close() -> None:
    app = ScoringApp(ServeSettings.from_worker_env({}))
    app.ready = True
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    def get(path: str) -> tuple[int, bytes, dict[bytes, bytes]]:
        sent.clear()
        scope = {"type": "http", "path": path, "method": "GET", "headers": []}
        asyncio.run(app(scope, receive, send))
        return sent[0]["status"], sent[1]["body"], dict(sent[0]["headers"])

    assert get("/readyz")[0] == 200 and b"connection" not in get("/readyz")[2]
    app.drain.draining = True
    status, body, headers = get("/readyz")
    assert (status, body, headers[b"connection"]) == (503, b"not ready: shutting down\n", b"close")
    status, _, headers = get("/healthz")
    assert status == 200 and headers[b"connection"] == b"close"
