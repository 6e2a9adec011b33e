"""Bearer tokens from a file (a Kubernetes Secret mounted as one): one per line, optionally
followed by the scopes it may use; blank lines and ``#`` comments ignored.

    # scoring clients (every scope: score and metrics)
    3f9c1e...e07a
    # Prometheus: /metrics only
    7b2d44...91c0 metrics

Only SHA-256 digests of the tokens are kept, and a presented token is compared with every
one of them in constant time (``hmac.compare_digest`` on equal-length digests, no early
exit), so neither a match's position nor a token's length shows in the answer's timing.
Messages name line numbers, never a token or any part of one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from consumer.scoring.errors import ConfigError

SCOPES = ("score", "metrics")
MIN_LENGTH = 16
# RFC 6750's b64token: what fits in "Authorization: Bearer <token>"
_TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")


def digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


@dataclass(frozen=True)
class Tokens:
    entries: tuple[tuple[bytes, frozenset[str]], ...]  # (digest, scopes)

    def scopes(self, token: bytes) -> frozenset[str] | None:
        """The scopes of ``token``, or None if it is not one of these."""
        presented = digest(token)
        found: frozenset[str] | None = None
        for known, scopes in self.entries:
            if hmac.compare_digest(known, presented):
                found = scopes
        return found


def parse_tokens(text: bytes, source: str) -> Tokens:
    """ConfigError naming ``source`` and the line of the first unusable entry."""
    entries: dict[bytes, frozenset[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        token, *scopes = line.split()
        if not _TOKEN.fullmatch(token) or len(token) < MIN_LENGTH:
            raise ConfigError(
                f"{source} line {number}: not a usable bearer token (at least {MIN_LENGTH} of "
                "A-Z a-z 0-9 - . _ ~ + /, then optional =; e.g. `openssl rand -hex 32`)"
            )
        names = {s.decode("ascii", "replace") for s in scopes}
        if not names <= set(SCOPES):
            raise ConfigError(
                f"{source} line {number}: after the token only scopes may follow "
                f"({', '.join(SCOPES)})"
            )
        key = digest(token)
        entries[key] = entries.get(key, frozenset()) | frozenset(names or SCOPES)
    if not entries:
        raise ConfigError(f"{source} lists no token (one a line; blank lines and # comments)")
    return Tokens(tuple(entries.items()))


def load_tokens(path: Path) -> Tokens:
    source = f"--auth-tokens-file {path}"
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: {exc.strerror}") from None
    return parse_tokens(text, source)
