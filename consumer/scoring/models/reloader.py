"""Hot reload: notice a newly promoted model, load it off the hot path, hand it over.

A model directory serves the version its ``CURRENT`` file names (else its newest).
Every ``poll`` seconds, and at once when ``trigger()`` is called (SIGHUP), a background
thread resolves the directory again; if that names another card or the card's model
checksum changed, it loads the new model completely (card and checksum verified, the
probe prediction, the TreeSHAP tables built) and only then offers it: the driver takes
it with ``take()`` between two batches, so no batch is scored by two models and no
record by none. A model that fails to load or verify is reported and the old one keeps
serving; it is tried again only once the directory changes again.

Promotion must be atomic: write the new model and card first, then rename a file over
``CURRENT`` (``mv CURRENT.tmp CURRENT``). A half-copied model fails its checksum and is
refused, never served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from consumer.scoring.errors import ModelError
from consumer.scoring.models.card import ModelCard
from consumer.scoring.models.files import resolve_card_path
from consumer.scoring.models.fraud_model import FraudModel, load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """What makes a model the same model: its card and the checksum the card names."""

    card: Path
    sha256: str

    @classmethod
    def of(cls, directory: Path) -> Identity:
        card = resolve_card_path(directory)
        return cls(card, ModelCard.from_file(card).model_sha256)

    def files(self) -> tuple[object, ...]:
        """The state of the card and its model file on disk: a failed load is tried
        again only once this changes (the file was copied again, say)."""
        out: list[object] = []
        for path in (self.card, self.card.with_suffix(".txt")):
            try:
                st = path.stat()
                out += [st.st_mtime_ns, st.st_size]
            except OSError:
                out.append(None)
        return (self, *out)


class ModelReloader:
    def __init__(
        self,
        directory: Path,
        current: FraudModel,
        *,
        poll: float = 5.0,
        threads: int = 0,
        on_loaded: Callable[[FraudModel], None] = lambda _m: None,
        on_failed: Callable[[str], None] = lambda _why: None,
    ) -> None:
        self._directory = directory
        self._poll = poll
        self._threads = threads
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._serving = Identity(resolve_card_path(directory), current.card.model_sha256)
        self._failed: tuple[object, ...] | None = None  # not retried until the files change
        self._failed_why: str | None = None  # reported once, not at every look
        self._ready: FraudModel | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-reloader", daemon=True)

    def start(self) -> ModelReloader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def trigger(self) -> None:
        """Look now (signal-safe: sets an event)."""
        self._wake.set()

    def take(self) -> FraudModel | None:
        """The newly loaded model, once; None if there is none (call between batches)."""
        if self._ready is None:
            return None
        with self._lock:
            model, self._ready = self._ready, None
        return model

    def check(self) -> None:
        """One look at the directory (the thread's work; tests call it directly)."""
        try:
            found = Identity.of(self._directory)
        except ModelError as exc:
            self._fail(None, str(exc))
            return
        if found == self._serving or found.files() == self._failed:
            return
        try:
            model = load_model(found.card, self._threads)
        except ModelError as exc:
            self._fail(found.files(), str(exc))
            return
        if model.card.model_sha256 != found.sha256:  # replaced again while loading
            return
        with self._lock:
            self._ready = model
        self._serving, self._failed, self._failed_why = found, None, None
        log.info("model %s-%s loaded; it serves from the next batch", model.name, model.version)
        self._on_loaded(model)

    def _fail(self, files: tuple[object, ...] | None, why: str) -> None:
        if files is not None and files == self._failed:
            return
        self._failed = files
        if why == self._failed_why:
            return
        self._failed_why = why
        log.error("model reload failed, the current model keeps serving: %s", why)
        self._on_failed(why)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # never let the reloader thread die silently
                log.exception("model reload check failed")
