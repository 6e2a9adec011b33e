"""HTTPS for the API: a server context from --tls-cert and --tls-key, client certificates
required with --tls-client-ca (mutual TLS), and new files taken up without a restart.

uvicorn asks each worker for its context once (``ssl_context_factory``). A context that
serves is never changed: loading a certificate into it while its key is still the old one
would leave it with no usable key, and OpenSSL's objects are not safe to change while the
event loop makes connections from them. When the files change, a whole new context is
built (and checked) beside it; the serving context's servername callback, which OpenSSL
calls for every ClientHello (with a server name or without), moves each new connection
onto the newest context. Connections already open keep the certificate they began with.
"""

from __future__ import annotations

import logging
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consumer.ops.api_metrics import ReloadMetrics
from consumer.scoring.errors import ConfigError
from consumer.serve.reloading import Poller, Reloading
from consumer.serve.settings import ServeSettings

if TYPE_CHECKING:  # the command imports this module: uvicorn only where it runs
    from uvicorn.config import Config

log = logging.getLogger(__name__)
ALPN = ["http/1.1"]  # what httptools speaks


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None

    @classmethod
    def of(cls, settings: ServeSettings) -> TlsFiles | None:
        if settings.tls_cert is None or settings.tls_key is None:
            return None
        return cls(settings.tls_cert, settings.tls_key, settings.tls_client_ca)

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.cert, self.key, *([] if self.client_ca is None else [self.client_ca]))


def _read(flag: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror}") from None


ENCRYPTED_KEY = "--tls-key is encrypted: give it unencrypted (a Secret, mounted read-only)"


def _no_password() -> bytes:
    """Instead of OpenSSL asking for a passphrase on the terminal."""
    raise ConfigError(ENCRYPTED_KEY)


def _check_pem(files: TlsFiles) -> None:
    """The clear messages OpenSSL's "PEM lib" does not give: which file, and what is wrong."""
    if b"-----BEGIN CERTIFICATE-----" not in _read("--tls-cert", files.cert):
        raise ConfigError(f"--tls-cert {files.cert}: no PEM certificate in it")
    key = _read("--tls-key", files.key)
    if b"PRIVATE KEY-----" not in key:
        raise ConfigError(f"--tls-key {files.key}: no PEM private key in it")
    if b"ENCRYPTED" in key:
        raise ConfigError(ENCRYPTED_KEY)
    if files.client_ca is not None:
        _read("--tls-client-ca", files.client_ca)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context from the files, or a ConfigError that says which file is wrong."""
    _check_pem(files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN)
    try:
        context.load_cert_chain(files.cert, files.key, password=_no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"--tls-key {files.key} is not the key of the certificate in --tls-cert"
            ) from None
        raise ConfigError(f"--tls-cert/--tls-key: cannot load them ({exc.reason})") from None
    except OSError as exc:  # gone between the check and the load
        raise ConfigError(f"--tls-cert/--tls-key: {exc.strerror}") from None
    if files.client_ca is not None:
        try:
            context.load_verify_locations(cafile=files.client_ca)
        except (ssl.SSLError, OSError):
            raise ConfigError(
                f"--tls-client-ca {files.client_ca}: no PEM CA certificate in it"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class ServingContext:
    """The context uvicorn serves with, handing each new connection the newest one."""

    def __init__(self, files: TlsFiles) -> None:
        self.newest = Reloading(
            "the TLS certificate files",
            files.paths,
            lambda: server_context(files),
            ReloadMetrics("tls"),
        )
        self.context = self.newest.current
        self.context.sni_callback = self._newest

    def _newest(
        self, connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext
    ) -> None:
        connection.context = self.newest.current


@dataclass(frozen=True)
class ContextFactory:
    """uvicorn's ``ssl_context_factory``, pickled to each worker and called there once: the
    worker's serving context, and a thread that looks for new files."""

    files: TlsFiles
    poll_s: float

    def __call__(self, _config: Config, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        from uvicorn.config import STARTUP_FAILURE

        try:
            serving = ServingContext(self.files)
        except ConfigError as exc:  # the command checked them: they changed since
            log.error("cannot serve HTTPS: %s", exc)
            sys.exit(STARTUP_FAILURE)
        Poller(self.poll_s, [serving.newest.check], "tls-files").start()
        return serving.context
