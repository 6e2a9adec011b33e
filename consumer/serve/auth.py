"""Who may call which path: with --auth-tokens-file, every path but the probes' needs
``Authorization: Bearer <token>`` with a token from the file.

/healthz and /readyz stay open (a kubelet cannot send a token); /metrics too unless
--metrics-auth on. A token may be limited to scopes (tokens.py): /v1/score needs
``score``, /metrics ``metrics``; other paths any valid token (then 404). No token or a
header that is not a bearer token: 401; a token not in the file: 401 with
``error="invalid_token"``; a valid token without the path's scope: 403. Every refusal is
counted by reason in ``fraud_api_auth_failures_total``; nothing about a token is logged.
"""

from __future__ import annotations

from collections.abc import Iterable

from consumer.ops.api_metrics import ApiMetrics
from consumer.serve.reloading import Reloading
from consumer.serve.responses import error_body
from consumer.serve.tokens import Tokens

Headers = list[tuple[bytes, bytes]]
Refusal = tuple[int, bytes, Headers]
OPEN = frozenset({"/healthz", "/readyz"})
SCOPE_OF = {"/v1/score": "score", "/metrics": "metrics"}
REALM = b'Bearer realm="fraud-api"'


def _refusal(status: int, reason: str, message: str, error: bytes = b"") -> Refusal:
    challenge = REALM + (b", " + error if error else b"")
    return status, error_body(reason, message), [(b"www-authenticate", challenge)]


MISSING = _refusal(401, "unauthorized", "this path needs Authorization: Bearer <token>")
MALFORMED = _refusal(
    401,
    "unauthorized",
    "the Authorization header is not Bearer <token>",
    b'error="invalid_request"',
)
INVALID = _refusal(401, "invalid_token", "the token is not valid", b'error="invalid_token"')


class BearerAuth:
    def __init__(
        self, tokens: Reloading[Tokens], metrics: ApiMetrics, *, metrics_auth: bool
    ) -> None:
        self._tokens = tokens
        self._metrics = metrics
        self._open = OPEN if metrics_auth else OPEN | {"/metrics"}

    def refuse(self, route: str, headers: Iterable[tuple[bytes, bytes]]) -> Refusal | None:
        """None if the request may go on, else the answer to give instead."""
        if route in self._open:
            return None
        refusal = self._check(route, headers)
        if refusal is not None:
            self._metrics.auth_failures.labels(reason=refusal[0]).inc()
            return refusal[1]
        return None

    def _check(
        self, route: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> tuple[str, Refusal] | None:
        value = next((v for name, v in headers if name == b"authorization"), None)
        if value is None:
            return "missing", MISSING
        scheme, _, token = value.strip().partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            return "malformed", MALFORMED
        scopes = self._tokens.current.scopes(token)
        if scopes is None:
            return "invalid", INVALID
        needed = SCOPE_OF.get(route)
        if needed is not None and needed not in scopes:
            return "forbidden", _refusal(
                403,
                "forbidden",
                f"this token may not use {route}",
                b'error="insufficient_scope", scope="' + needed.encode() + b'"',
            )
        return None
