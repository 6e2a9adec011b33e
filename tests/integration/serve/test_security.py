"""The API over TLS with bearer tokens, as a client meets it: real handshakes against a CA
the test makes, two workers, files that change the way a Kubernetes Secret volume's do
(tokens and certificates replaced without a restart), and mutual TLS."""

from __future__ import annotations

import asyncio
import functools
import secrets
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.serve.pki import Issued, SecretVolume, TestCA
from tests.integration.serve.server import Server, poll, serving, transactions

pytestmark = pytest.mark.integration
JSON = {"content-type": "application/json"}
ROTATION_S = 15  # each worker looks every 0.2 s; a busy machine
TLS12 = ssl.TLSVersion.TLSv1_2


@functools.cache
def _tx() -> dict[str, object]:
    """One transaction (making the generator takes a quarter of a second)."""
    return transactions(1)[0]


def _token() -> str:
    return secrets.token_hex(24)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class Files:
    """The server's certificate and tokens, in Secret-volume-like directories."""

    ca: TestCA
    tls: SecretVolume
    tokens: SecretVolume
    cert: Issued
    full: str  # every scope
    score_only: str
    metrics_only: str

    def write_tokens(self) -> None:
        text = (
            f"# scoring clients\n{self.full}\n\n{self.score_only} score\n"
            f"# Prometheus\n{self.metrics_only}   metrics\n"
        )
        self.tokens.write({"tokens": text.encode()})

    def write_cert(self, cert: Issued, key: bytes | None = None) -> None:
        self.tls.write({"tls.crt": cert.cert, "tls.key": cert.key if key is None else key})

    def args(self) -> list[str]:
        return [
            "--tls-cert", str(self.tls.path("tls.crt")), "--tls-key", str(self.tls.path("tls.key")),
            "--auth-tokens-file", str(self.tokens.path("tokens")), "--metrics-auth", "on",
            "--secrets-poll-s", "0.2", "--drain-s", "0",
        ]  # fmt: skip


@dataclass
class Secured(Files):
    server: Server | None = None

    @property
    def s(self) -> Server:
        assert self.server is not None
        return self.server

    def score(self, token: str | None) -> httpx.Response:
        headers = {**JSON, **(_bearer(token) if token else {})}
        url, context = self.s.url + "/v1/score", self.ca.client_context()
        return httpx.post(url, json=_tx(), headers=headers, verify=context)

    def metric(self, sample: str) -> float:
        """The sum of a sample over the workers, read with a token that may."""
        text = self.s.get("/metrics", headers=_bearer(self.full)).text
        lines = text.splitlines()
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(sample))


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("secured")
    ca = TestCA(tmp)
    s = Secured(ca, SecretVolume(tmp / "tls"), SecretVolume(tmp / "auth"),
                ca.issue("fraud-api"), _token(), _token(), _token())  # fmt: skip
    s.write_cert(s.cert)
    s.write_tokens()
    with serving(tmp, *s.args(), workers=2, tls=ca.client_context()) as server:
        s.server = server
        yield s


def _peer_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial number of the certificate the server shows a new connection."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return int(tls.getpeercert()["serialNumber"], 16)  # type: ignore[arg-type,index]


def _exchange(port: int, context: ssl.SSLContext, version: ssl.TLSVersion | None = None) -> str:
    """GET /healthz over TLS on a new connection: "answered", "refused in the handshake", or
    "closed unanswered". The server (uvloop) closes a failed handshake without a TLS alert:
    a TLS 1.2 client sees that in its handshake; a TLS 1.3 client has finished its side of
    the handshake before the server checks the certificate, and sees it at its first read."""
    if version is not None:
        context.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
        except (ssl.SSLError, ConnectionError):
            return "refused in the handshake"
        with tls:
            try:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = tls.recv(12)
            except (ssl.SSLError, ConnectionError):
                answer = b""
    return "answered" if answer == b"HTTP/1.1 200" else "closed unanswered"


# -- TLS --------------------------------------------------------------------------------
def test_plain_http_is_not_served_on_the_tls_port(secured: Secured) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{secured.s.port}/healthz", timeout=10)
    with socket.create_connection(("127.0.0.1", secured.s.port), timeout=10) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not raw.recv(100).startswith(b"HTTP/")


def test_a_client_trusting_the_ca_is_served_and_probes_need_no_token(secured: Secured) -> None:
    assert secured.s.get("/healthz").status_code == 200
    assert secured.s.get("/readyz").status_code == 200
    assert _peer_serial(secured.s.port, secured.ca.client_context()) == secured.cert.serial


def test_a_client_that_does_not_trust_the_ca_refuses_the_server(secured: Secured) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(secured.s.url + "/healthz", timeout=10)


def test_two_workers_serve_tls(secured: Secured) -> None:
    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=secured.s.url,
            headers={**JSON, **_bearer(secured.full)},
            verify=secured.ca.client_context(),
            timeout=30,
        ) as c:
            return list(
                await asyncio.gather(*(c.post("/v1/score", json=t) for t in transactions(60)))
            )

    assert {r.status_code for r in asyncio.run(many())} == {200}
    assert secured.metric("fraud_api_ready ") == 2.0


# -- tokens -----------------------------------------------------------------------------
def test_scoring_needs_a_token_from_the_file(secured: Secured) -> None:
    missing = secured.score(None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="fraud-api"'
    assert missing.json()["error"]["reason"] == "unauthorized"
    wrong = secured.score(_token())
    assert wrong.status_code == 401 and wrong.json()["error"]["reason"] == "invalid_token"
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    r = httpx.post(secured.s.url + "/v1/score", json=_tx(),
                   headers={"authorization": f"Basic {secured.full}"},
                   verify=secured.ca.client_context())  # fmt: skip
    assert r.status_code == 401 and 'error="invalid_request"' in r.headers["www-authenticate"]
    for token in (secured.full, secured.score_only):
        r = secured.score(token)
        assert r.status_code == 200 and r.json()["status"] == "scored"
    forbidden = secured.score(secured.metrics_only)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["reason"] == "forbidden"
    assert 'error="insufficient_scope", scope="score"' in forbidden.headers["www-authenticate"]


def test_metrics_needs_a_token_with_metrics_auth_and_counts_failures(secured: Secured) -> None:
    s = secured.s
    assert s.get("/metrics").status_code == 401
    assert s.get("/metrics", headers=_bearer(secured.score_only)).status_code == 403
    assert s.get("/metrics", headers=_bearer(secured.metrics_only)).status_code == 200
    assert s.get("/nope").status_code == 401  # a token before a 404
    assert s.get("/nope", headers=_bearer(secured.full)).status_code == 404
    before = secured.metric('fraud_api_auth_failures_total{reason="invalid"}')
    for _ in range(3):
        assert secured.score("x" * 32).status_code == 401
    after = secured.metric('fraud_api_auth_failures_total{reason="invalid"}')
    assert after == before + 3
    assert secured.metric('fraud_api_auth_failures_total{reason="forbidden"}') >= 1
    assert secured.metric('fraud_api_auth_failures_total{reason="missing"}') >= 1


def test_a_replaced_token_is_honoured_and_the_old_one_refused_without_a_restart(
    secured: Secured,
) -> None:
    started = secured.s.output().count("Started server process")
    old, secured.full = secured.full, _token()
    secured.write_tokens()

    def rotated() -> bool | None:  # every worker: ten new connections in a row
        ok = all(
            secured.score(secured.full).status_code == 200 and secured.score(old).status_code == 401
            for _ in range(10)
        )
        return ok or None

    poll(rotated, ROTATION_S, "the new token accepted and the old one refused")
    loaded = 'fraud_api_secret_reloads_total{result="loaded",secret="tokens"}'
    assert secured.metric(loaded) >= 2  # once in each worker
    assert secured.s.output().count("Started server process") == started
    log = secured.s.output()
    assert all(t not in log for t in (old, secured.full, secured.score_only, secured.metrics_only))


# -- certificate rotation ---------------------------------------------------------------
def test_a_rotated_certificate_serves_new_connections_without_a_restart(secured: Secured) -> None:
    started = secured.s.output().count("Started server process")
    context = secured.ca.client_context()
    with httpx.Client(base_url=secured.s.url, verify=context, timeout=10) as kept:
        assert kept.get("/healthz").status_code == 200  # a connection opened before
        new = secured.ca.issue("fraud-api")
        secured.write_cert(new)
        poll(
            lambda: all(_peer_serial(secured.s.port, context) == new.serial
                        for _ in range(10)) or None,
            ROTATION_S,
            "new connections shown the new certificate",
        )  # fmt: skip
        assert kept.get("/healthz").status_code == 200  # still open, still answered
    secured.cert = new
    assert secured.score(secured.full).status_code == 200
    assert secured.s.output().count("Started server process") == started


def test_a_certificate_without_its_key_is_refused_and_the_old_one_stays(
    secured: Secured,
) -> None:
    context = secured.ca.client_context()
    sample = 'fraud_api_secret_reloads_total{result="failed",secret="tls"}'
    failed = secured.metric(sample)
    half = secured.ca.issue("fraud-api")
    secured.write_cert(half, key=secured.cert.key)  # the new certificate, the old key
    poll(
        lambda: secured.metric(sample) >= failed + 2 or None,
        ROTATION_S,
        "both workers refuse the mismatched pair",
    )
    assert _peer_serial(secured.s.port, context) == secured.cert.serial
    assert secured.s.get("/healthz").status_code == 200
    assert "is not the key of the certificate" in secured.s.output()
    secured.write_cert(half)  # the key follows: taken up
    poll(
        lambda: _peer_serial(secured.s.port, context) == half.serial or None,
        ROTATION_S,
        "the completed pair served",
    )
    secured.cert = half


# -- mutual TLS -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TestCA, Path]]:
    tmp = tmp_path_factory.mktemp("mtls")
    ca = TestCA(tmp)
    server_cert = ca.issue("fraud-api")
    (tmp / "tls.crt").write_bytes(server_cert.cert)
    (tmp / "tls.key").write_bytes(server_cert.key)
    client = ca.client_context(ca.issue("scoring-client", client=True), tmp)
    with serving(
        tmp, "--tls-cert", str(tmp / "tls.crt"), "--tls-key", str(tmp / "tls.key"),
        "--tls-client-ca", str(ca.path), "--drain-s", "0", tls=client,
    ) as server:  # fmt: skip
        yield server, ca, tmp


def test_mutual_tls_without_a_client_certificate_fails_the_handshake(
    mutual: tuple[Server, TestCA, Path],
) -> None:
    server, ca, _ = mutual
    assert _exchange(server.port, ca.client_context(), TLS12) == "refused in the handshake"
    assert _exchange(server.port, ca.client_context()) == "closed unanswered"  # TLS 1.3


def test_mutual_tls_with_a_certificate_of_another_ca_fails_the_handshake(
    mutual: tuple[Server, TestCA, Path],
) -> None:
    server, ca, tmp = mutual
    stranger = TestCA(tmp, "other-ca").issue("stranger", client=True)
    for version in (TLS12, None):
        context = ca.client_context(stranger, tmp)
        expected = "refused in the handshake" if version else "closed unanswered"
        assert _exchange(server.port, context, version) == expected


def test_mutual_tls_with_a_good_client_certificate_is_served(
    mutual: tuple[Server, TestCA, Path],
) -> None:
    server, _, _ = mutual
    assert server.tls is not None
    assert _exchange(server.port, server.tls) == "answered"
    r = httpx.post(server.url + "/v1/score", json=transactions(1)[0], verify=server.tls)
    assert r.status_code == 200 and r.json()["status"] == "scored"
