"""A real Prometheus scrapes a running scorer and a running API; every rule and dashboard
query works on them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumer.devtools.broker import free_port
from consumer.kafka.topics import ensure_topics
from tests.conftest import ROOT
from tests.integration.helpers import Scorer, make_values, new_group, produce
from tests.integration.serve.server import serving, transactions
from tests.tools import require
from tests.unit.test_deploy import metric_names, promql_expressions

pytestmark = pytest.mark.integration


def _exposed(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def _api(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:  # 400 with a JSON body for a bad query
        return json.loads(exc.read())


def _eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_prometheus_scrapes_the_scorer_and_every_query_names_real_metrics(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path, model_dir: Path
) -> None:
    prometheus = require("prometheus", "apt-get install prometheus")
    names = topics(2)
    shadow_topic = names[0] + ".shadow"
    ensure_topics({"bootstrap.servers": bootstrap}, {shadow_topic: 2})
    produce(bootstrap, names[0], make_values(2000, malformed_every=20))
    challenger = str(model_dir / "fraud-lgbm-1.1.0.json")
    # a canary and a shadow, so that the model lifecycle's metrics are there to query
    lifecycle = ("--model", str(model_dir), "--canary-model", challenger, "--canary-percent", "10")
    scorer = Scorer(
        bootstrap, names, new_group(), tmp_path, *lifecycle, "--shadow-model", challenger,
        "--shadow-topic", shadow_topic, metrics=True,
    )  # fmt: skip
    api_context = serving(tmp_path, *lifecycle, "--shadow-model", challenger, workers=2)
    api = api_context.__enter__()
    try:
        for body in (transactions(5), [{"transaction_id": "x"}]):  # scored and invalid
            httpx.post(api.url + "/v1/score", json={"transactions": body}, timeout=30)
        api_port = int(api.url.rsplit(":", 1)[1])
        scorer.wait_for("fraud_events_consumed_total", 2000)
        # Lag gauges appear with the first librdkafka statistics (every 5 s).
        _eventually(
            lambda: "fraud_consumer_lag_messages" in _exposed(scorer.metrics_port), "lag metrics"
        )
        exposed = _exposed(scorer.metrics_port) | _exposed(api_port)
        for expr in promql_expressions():
            missing = metric_names(expr) - exposed
            assert not missing, f"{expr!r} names metrics neither service exposes: {missing}"

        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{ROOT / 'deploy/prometheus/alerts.yml'}']\n"
            "scrape_configs:\n"
            "  - job_name: fraud-consumer\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{scorer.metrics_port}']}}]\n"
            "  - job_name: fraud-api\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]\n"
        )
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        try:

            def scraped() -> bool:
                try:
                    result = _api(port, "query", query='up{job="fraud-consumer"}')["data"]["result"]
                except OSError:
                    return False
                return bool(result) and result[0]["value"][1] == "1"

            _eventually(scraped, "Prometheus to scrape the scorer")
            _eventually(
                lambda: bool(
                    _api(port, "query", query='up{job="fraud-api"} == 1')["data"]["result"]
                ),
                "Prometheus to scrape the API",
            )
            items = _api(port, "query", query="sum(fraud_api_items_total)")["data"]["result"]
            assert float(items[0]["value"][1]) == 6
            _eventually(
                lambda: bool(
                    _api(port, "query", query="fraud_consumer_lag_messages")["data"]["result"]
                ),
                "lag series in Prometheus",
            )
            consumed = _api(port, "query", query="sum(fraud_events_consumed_total)")["data"][
                "result"
            ]
            assert float(consumed[0]["value"][1]) >= 2000

            for expr in promql_expressions():
                answer = _api(port, "query", query=expr)
                assert answer["status"] == "success", f"{expr!r}: {answer.get('error')}"

            def rules_evaluated() -> bool:
                groups = _api(port, "rules")["data"]["groups"]
                return bool(groups) and all(
                    r.get("lastEvaluation", "").startswith("20")
                    and not r["lastEvaluation"].startswith("0001")
                    for g in groups
                    for r in g["rules"]
                )

            _eventually(rules_evaluated, "alert rules to be evaluated")
            for group in _api(port, "rules")["data"]["groups"]:
                for rule in group["rules"]:
                    assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        finally:
            server.terminate()
            server.wait(30)
    finally:
        api_context.__exit__(None, None, None)
        scorer.signal(signal.SIGTERM)
        assert scorer.wait(30) == 0, scorer.output()
