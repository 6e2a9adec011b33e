"""Bad TLS and token files stop `fraud-consumer serve` with one line (exit 2) before any
worker starts, and the line never shows a token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from consumer.cli import main
from tests.integration.serve.pki import TestCA

pytestmark = pytest.mark.integration
SHORT_TOKEN = "tooShort-42"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-files")
    ca = TestCA(d)
    good, other = ca.issue("fraud-api"), ca.issue("other")
    (d / "tls.crt").write_bytes(good.cert)
    (d / "tls.key").write_bytes(good.key)
    (d / "other.key").write_bytes(other.key)
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (d / "encrypted.key").write_bytes(encrypted)
    (d / "garbage").write_text("not a certificate\n")
    (d / "comments").write_text("# nothing but comments\n\n   \n")
    (d / "short").write_text(f"# a token too short to be safe\n{SHORT_TOKEN}\n")
    (d / "spaced").write_text("0123456789abcdef0123 0123456789abcdef0123\n")
    (d / "tokens").write_text("0123456789abcdef0123456789abcdef\n")
    return d


def _tls(cert: str, key: str, *more: str) -> list[str]:
    return ["--tls-cert", cert, "--tls-key", key, *more]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_tls("nope.crt", "tls.key"), "--tls-cert {d}/nope.crt: No such file or directory"),
        (_tls(".", "tls.key"), "--tls-cert {d}/.: Is a directory"),
        (_tls("garbage", "tls.key"), "--tls-cert {d}/garbage: no PEM certificate in it"),
        (_tls("tls.crt", "tls.crt"), "--tls-key {d}/tls.crt: no PEM private key in it"),
        (_tls("tls.crt", "other.key"),
         "--tls-key {d}/other.key is not the key of the certificate in --tls-cert"),
        (_tls("tls.crt", "encrypted.key"), "--tls-key is encrypted: give it unencrypted"),
        (_tls("tls.crt", "tls.key", "--tls-client-ca", "garbage"),
         "--tls-client-ca {d}/garbage: no PEM CA certificate in it"),
        (["--auth-tokens-file", "nope"], "--auth-tokens-file {d}/nope: No such file or directory"),
        (["--auth-tokens-file", "comments"], "--auth-tokens-file {d}/comments lists no token"),
        (["--auth-tokens-file", "short"],
         "--auth-tokens-file {d}/short line 2: not a usable bearer token"),
        (["--auth-tokens-file", "spaced"],
         "--auth-tokens-file {d}/spaced line 1: after the token only scopes may follow"),
    ],
)  # fmt: skip
def test_bad_tls_and_token_files_stop_serve_with_one_line(
    files: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(files)
    absolute = [str(files / a) if not a.startswith("--") else a for a in args]
    assert main(["serve", "--port", "0", *absolute]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    expected = message.format(d=files).replace(f"{files}/.", str(files))
    assert err.startswith(f"fraud-consumer: error: {expected}"), err
    assert SHORT_TOKEN not in err and "0123456789abcdef" not in err


def test_a_key_not_matching_the_certificate_stops_the_server_before_any_worker(
    files: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "consumer", "serve", "--port", "0", "--workers", "2",
         *_tls(str(files / "tls.crt"), str(files / "other.key"))],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": ""},
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"fraud-consumer: error: --tls-key {files}/other.key is not the key of the certificate"
        " in --tls-cert"
    ]
    assert "Started" not in out.stdout + out.stderr


def test_good_files_pass_the_checks(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Good files get past the TLS and token checks, and the model's, to the port's (taken
    here, so that the command stops there instead of starting the server)."""
    args = [*_tls(str(files / "tls.crt"), str(files / "tls.key"), "--tls-client-ca",
                  str(files / "test-ca.pem")),
            "--auth-tokens-file", str(files / "tokens"), "--metrics-auth", "on"]  # fmt: skip
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve", "--host", "127.0.0.1", "--port", port, *args]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
