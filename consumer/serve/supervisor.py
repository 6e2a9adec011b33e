"""uvicorn's supervisor of several workers, made to stop promptly and cleanly.

uvicorn's own looks at signals every half second and keeps its copy of the listening
socket until it exits. So its workers heard of a SIGTERM up to half a second late,
answering new connections meanwhile as if nothing happened; and once they had closed their
listeners, the kernel still completed new connections on the supervisor's copy, which
nobody would accept: the client hung until the supervisor exited, then got a reset.
Here signals are looked at every 50 ms. When the server stops, the supervisor closes its
copy and sends each worker SIGUSR2, "the server is stopping": each drains, then stops
(drain.py); when the last one has closed its copy, new connections are refused. A worker
replaced by SIGHUP's rolling restart still gets uvicorn's SIGTERM and stops at once. A
worker that fails to start (exit 3) makes the supervisor exit 3, as one worker does,
instead of 0.
"""

from __future__ import annotations

import logging
import os

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from consumer.serve.drain import DRAIN_SIGNAL

log = logging.getLogger("uvicorn.error")
SIGNAL_POLL_S = 0.05
HEALTH_CHECK_EVERY = 10  # signal polls: workers are pinged every half second, as uvicorn does


class Supervisor(Multiprocess):
    def run(self) -> None:
        log.info("Started parent process [%d]", os.getpid())
        self.init_processes()
        polls = 0
        while not self.should_exit.wait(SIGNAL_POLL_S):
            self.handle_signals()
            polls += 1
            if polls % HEALTH_CHECK_EVERY == 0:
                self.keep_subprocess_alive()
        self.terminate_all()
        self.join_all()
        log.info("Stopping parent process [%d]", os.getpid())

    def terminate_all(self) -> None:
        for sock in self.sockets:  # the workers' copies keep listening until they close them
            sock.close()
        for process in self.processes:
            if process.exitcode is None and process.pid is not None:
                os.kill(process.pid, DRAIN_SIGNAL)
                log.info("Told child process [%d] to drain and stop", process.pid)

    @property
    def startup_failed(self) -> bool:
        return any(p.exitcode == STARTUP_FAILURE for p in self.processes)
