"""Stopping the server: a drain window in each worker before uvicorn's own shutdown.

Behind a load balancer or a Kubernetes Service, clients keep arriving for a moment after
a replica is told to stop: endpoint lists, proxies and connection pools catch up with the
change in seconds, not at once. So when the server stops, each worker is at once not
ready (/readyz 503, ``fraud_api_ready`` 0) and answers on as before for --drain-s, every
answer with ``Connection: close`` so that clients holding a keep-alive connection open a
new one, to a replica that is not stopping. Then the stop goes on to uvicorn, which closes
the listener (new connections are refused), lets the requests in hand finish within
--graceful-timeout, and runs the app's shutdown.

What starts the window: with one worker, SIGTERM or SIGINT to the server (uvicorn's
handlers for them are wrapped); with several, SIGUSR2 from the supervisor as the server
stops (supervisor.py). A worker sent SIGTERM itself (SIGHUP's rolling restart replacing
it) stops at once, as uvicorn does: the others keep the shared socket listening, so
nothing is refused. During the window a SIGINT (Ctrl-C again) ends it; a repeated SIGTERM
does not (a process manager that signals every process, as systemd does, and the
supervisor may both send one). A worker that is not serving yet stops at once.

uvicorn installs its handlers before it creates the app and puts the previous ones back
after it stops; the app factory puts these in front of them.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

DRAIN_SIGNAL = signal.SIGUSR2  # from the supervisor: the server is stopping
Handler = Callable[[int, FrameType | None], Any]


class Drain:
    def __init__(
        self,
        window: float,
        on_start: Callable[[], None],
        serving: Callable[[], bool],
        *,
        supervised: bool,
    ) -> None:
        self.window = window
        self.draining = False
        self._on_start = on_start
        self._serving = serving
        self._supervised = supervised
        self._uvicorn: dict[int, Handler] = {}
        self._passed_on = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the main thread, once uvicorn has installed its handlers (else nothing)."""
        if self._loop is not None:
            return
        for stop in (signal.SIGTERM, signal.SIGINT):
            handler = signal.getsignal(stop)
            if callable(handler):
                self._uvicorn[stop] = handler
        if signal.SIGTERM not in self._uvicorn:
            return
        self._loop = loop
        starts: tuple[int, ...] = (DRAIN_SIGNAL,) if self._supervised else tuple(self._uvicorn)
        for start in starts:
            signal.signal(start, self._signalled)

    def _signalled(self, sig: int, _frame: FrameType | None) -> None:
        """The signal handler: a flag and a wake-up; the rest happens in the event loop."""
        if self.draining:
            if sig == signal.SIGINT:
                self._pass_on(sig)
            return
        if self._loop is None or not self._serving():
            self._pass_on(sig)
            return
        self.draining = True
        self._loop.call_soon_threadsafe(self._start, sig)

    def _start(self, sig: int) -> None:
        self._on_start()
        if self._loop is not None:
            self._loop.call_later(self.window, self._window_over, sig)

    def _window_over(self, sig: int) -> None:
        if not self._passed_on:
            self._pass_on(sig)

    def _pass_on(self, sig: int) -> None:
        """To uvicorn, as the signal it handles (the supervisor's SIGUSR2 as SIGTERM)."""
        self._passed_on = True
        stop = signal.SIGTERM if sig == DRAIN_SIGNAL else sig
        self._uvicorn.get(stop, self._uvicorn[signal.SIGTERM])(stop, None)
