"""The serve command's TLS, token and drain settings: flags, variables, what cannot go
together (one line each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.cli import build_parser
from consumer.scoring.errors import ConfigError
from consumer.serve.settings import ServeSettings


def _settings(argv: list[str], env: dict[str, str] | None = None) -> ServeSettings:
    return ServeSettings.from_args(build_parser().parse_args(["serve", *argv]), env or {})


def test_off_by_default() -> None:
    s = _settings([])
    assert (s.tls_cert, s.tls_key, s.tls_client_ca, s.auth_tokens_file) == (None,) * 4
    assert s.metrics_auth is False and s.drain_s == 2.0 and s.secrets_poll_s == 5.0


def test_flags_and_variables() -> None:
    env = {"FRAUD_TLS_CERT": "/tls/tls.crt", "FRAUD_TLS_KEY": "/tls/tls.key",
           "FRAUD_TLS_CLIENT_CA": "/tls/ca.crt", "FRAUD_AUTH_TOKENS_FILE": "/auth/tokens",
           "FRAUD_METRICS_AUTH": "true", "FRAUD_DRAIN_S": "0"}  # fmt: skip
    s = _settings([], env)
    assert (s.tls_cert, s.tls_key, s.tls_client_ca) == (
        Path("/tls/tls.crt"), Path("/tls/tls.key"), Path("/tls/ca.crt"),
    )  # fmt: skip
    assert s.auth_tokens_file == Path("/auth/tokens") and s.metrics_auth and s.drain_s == 0.0
    assert _settings(["--metrics-auth", "off"], env).metrics_auth is False
    assert ServeSettings.from_json(s.to_json()) == s  # as the workers get them


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--tls-cert", "c"], {}, "give --tls-cert and --tls-key together"),
        (["--tls-key", "k"], {}, "give --tls-cert and --tls-key together"),
        (["--tls-client-ca", "ca"], {}, "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--metrics-auth", "on"], {}, "--metrics-auth on needs --auth-tokens-file"),
        ([], {"FRAUD_METRICS_AUTH": "maybe"}, "FRAUD_METRICS_AUTH: expected on or off"),
        ([], {"FRAUD_DRAIN_S": "-1"}, "FRAUD_DRAIN_S: must be a finite number, 0 or more"),
        ([], {"FRAUD_DRAIN_S": "inf"}, "FRAUD_DRAIN_S: must be a finite number, 0 or more"),
        ([], {"FRAUD_TLS_CERT": ""}, "FRAUD_TLS_CERT: must not be empty"),
    ],
)
def test_what_cannot_work_is_one_line(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(argv, env)
