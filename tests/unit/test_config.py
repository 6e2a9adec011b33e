from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from consumer.cli import build_parser
from consumer.kafka.settings import MASK
from consumer.scoring.errors import ConfigError
from consumer.stream.settings import RunSettings


def _settings(argv: list[str], env: dict[str, str] | None = None) -> RunSettings:
    ns = build_parser().parse_args(["run", *argv])
    return RunSettings.from_args(ns, env or {})


def test_defaults() -> None:
    s = _settings([])
    assert (s.input_topic, s.output_topic, s.dlq_topic) == (
        "payments.transactions",
        "payments.fraud-scores",
        "payments.transactions.dlq",
    )
    assert s.mode == "adaptive"
    assert s.exit_when_idle is None


def test_flag_beats_env_beats_default() -> None:
    assert _settings([], {"FRAUD_MAX_BATCH": "64"}).max_batch == 64
    assert _settings(["--max-batch", "8"], {"FRAUD_MAX_BATCH": "64"}).max_batch == 8
    assert _settings([], {"FRAUD_MODE": "single"}).mode == "single"
    assert _settings([], {"FRAUD_MODEL": "/m"}).model == Path("/m")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FRAUD_MAX_BATCH": "many"}, "FRAUD_MAX_BATCH: expected a whole number"),
        ({"FRAUD_MAX_BATCH": "0"}, "FRAUD_MAX_BATCH: must be greater than 0"),
        ({"FRAUD_MODE": "turbo"}, "FRAUD_MODE: must be one of"),
        ({"FRAUD_EXIT_WHEN_IDLE": "-1"}, "FRAUD_EXIT_WHEN_IDLE"),
        ({"FRAUD_METRICS_PORT": "70000"}, "FRAUD_METRICS_PORT"),
        ({"FRAUD_KAFKA_ACKS": "1"}, "acks is managed"),
    ],
)
def test_bad_env_is_one_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings([], env)


def test_bad_flag_exits_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["run", "--max-batch", "zero"])
    assert info.value.code == 2
    assert "--max-batch: expected a whole number" in capsys.readouterr().err


def test_librdkafka_passthrough_layers(tmp_path: Path) -> None:
    props = tmp_path / "client.properties"
    props.write_text(
        "# SASL\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.password=s3cret\n"
    )
    s = _settings(
        [
            "--client-properties",
            str(props),
            "--kafka-config",
            "sasl.username=svc",
            "--consumer-config",
            "session.timeout.ms=6000",
            "--producer-config",
            "linger.ms=20",
        ],
        {"FRAUD_KAFKA_SSL_CA_LOCATION": "/ca.pem"},
    )
    c, p = s.consumer_config(), s.producer_config()
    assert c["security.protocol"] == p["security.protocol"] == "SASL_SSL"
    assert c["sasl.password"] == "s3cret"
    assert c["ssl.ca.location"] == "/ca.pem"
    assert c["session.timeout.ms"] == "6000" and "session.timeout.ms" not in p
    assert p["linger.ms"] == "20"
    assert p["acks"] == "all" and c["enable.auto.offset.store"] is False
    printed = s.printable()
    assert printed["consumer"]["sasl.password"] == MASK
    assert "s3cret" not in repr(printed)


def test_secrets_are_refused_on_the_command_line() -> None:
    with pytest.raises(ConfigError, match="FRAUD_KAFKA_SASL_PASSWORD"):
        _settings(["--kafka-config", "sasl.password=hunter2"])


def test_managed_settings_cannot_be_overridden() -> None:
    with pytest.raises(ConfigError, match=r"enable\.auto\.offset\.store is managed"):
        _settings(["--consumer-config", "enable.auto.offset.store=true"])


def test_malformed_passthrough_pair() -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        _settings(["--kafka-config", "linger.ms"])


def test_unreadable_properties_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read client properties"):
        _settings(["--client-properties", str(tmp_path / "missing")])


def test_option_namespace_has_no_env_leak() -> None:
    ns = build_parser().parse_args(["run"])
    assert isinstance(ns, argparse.Namespace)
    assert ns.max_batch is None  # unset flags stay None so env and defaults apply


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FRAUD_CANARY_PERCENT": "101"}, "FRAUD_CANARY_PERCENT: must be between 0 and 100"),
        ({"FRAUD_CANARY_PERCENT": "-1"}, "FRAUD_CANARY_PERCENT: must be between 0 and 100"),
        ({"FRAUD_CANARY_PERCENT": "half"}, "FRAUD_CANARY_PERCENT"),
        ({"FRAUD_CANARY_PERCENT": "5"}, "give --canary-model and --canary-percent together"),
        ({"FRAUD_CANARY_MODEL": "/m/c.json"}, "give --canary-model and --canary-percent"),
        ({"FRAUD_SHADOW_MODEL": ""}, "FRAUD_SHADOW_MODEL: must not be empty"),
        ({"FRAUD_MODEL": " "}, "FRAUD_MODEL: must not be empty"),
        ({"FRAUD_SHADOW_MODEL": "/m/s.json"}, "give --shadow-model and --shadow-topic together"),
        ({"FRAUD_SHADOW_TOPIC": "t"}, "give --shadow-model and --shadow-topic together"),
        (
            {"FRAUD_SHADOW_MODEL": "/m/s.json", "FRAUD_SHADOW_TOPIC": "payments.fraud-scores"},
            "--shadow-topic must differ from the output and dead-letter topics",
        ),
        ({"FRAUD_MODEL_POLL_S": "0"}, "FRAUD_MODEL_POLL_S: must be a finite number greater than 0"),
    ],
)
def test_bad_lifecycle_settings_are_one_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings([], env)


def test_lifecycle_settings_of_run_and_serve() -> None:
    from consumer.serve.settings import ServeSettings

    s = _settings(["--canary-model", "/m/c.json", "--canary-percent", "2.5"])
    assert (s.canary_model, s.canary_percent, s.model_poll_s) == (Path("/m/c.json"), 2.5, 5.0)
    ns = build_parser().parse_args(["serve", "--shadow-model", "/m/s.json"])
    served = ServeSettings.from_args(ns, {})
    assert served.shadow_model == Path("/m/s.json") and served.canary_model is None
    # what the workers get back from the command is the same, types and all
    assert ServeSettings.from_json(served.to_json()) == served
    assert ServeSettings.from_worker_env({"FRAUD_SERVE_SETTINGS": served.to_json()}) == served
    with pytest.raises(ConfigError, match="give --canary-model and --canary-percent"):
        ServeSettings.from_args(build_parser().parse_args(["serve", "--canary-percent", "3"]), {})
