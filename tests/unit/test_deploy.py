"""The deployment files, checked structurally (no Docker engine needed)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from typing import Any

import pytest
import yaml

from consumer.cli import build_parser
from tests.conftest import ROOT
from tests.tools import require

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OUR_IMAGE = "fraud-consumer:local"
PROMTOOL = "apt-get install prometheus (Debian/Ubuntu; it brings promtool)"


def test_compose_has_the_whole_stack() -> None:
    assert {
        "kafka",
        "topics",
        "scorer",
        "api",
        "producer",
        "prometheus",
        "grafana",
        "schema-registry",
    } <= set(SERVICES)
    assert SERVICES["scorer"]["deploy"]["replicas"] == 3
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "zookeeper" not in SERVICES


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if s.get("image") == OUR_IMAGE])
def test_our_services_use_flags_the_cli_accepts(name: str) -> None:
    command = SERVICES[name]["command"]
    try:
        build_parser().parse_args(command)
    except SystemExit as exc:
        pytest.fail(f"service {name}: `fraud-consumer {' '.join(command)}` is rejected ({exc})")


def test_every_mounted_file_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            assert (ROOT / host).exists(), f"service {name} mounts missing {host}"


def test_compose_topics_match_the_scorer_defaults() -> None:
    script = SERVICES["topics"]["command"][0]
    for topic in ("payments.transactions", "payments.fraud-scores", "payments.transactions.dlq"):
        assert f"{topic}:" in script


def test_dockerfile_is_slim_and_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert all("slim" in line for line in text.splitlines() if line.startswith("FROM "))
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("0", "root")
    for line in text.splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        sources = [w for w in line.split()[1:-1] if not w.startswith("--")]
        for path in sources:
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert 'ENTRYPOINT ["fraud-consumer"]' in text


def test_grafana_dashboard_and_provisioning() -> None:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/fraud-consumer.json").read_text())
    titles = " | ".join(p["title"] for p in dash["panels"])
    for needed in (
        "Events consumed",
        "Decisions",
        "Dead letters by reason",
        "latency",
        "Batch size",
        "lag per partition",
        "Score distribution",
        "Model version",
    ):
        assert needed.lower() in titles.lower(), needed
    provisioning = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/fraud-consumer.yml").read_text()
    )
    mounts = SERVICES["grafana"]["volumes"]
    assert any(
        m.endswith(":" + provisioning["providers"][0]["options"]["path"] + ":ro") for m in mounts
    )


def test_promtool_accepts_the_rules_and_config() -> None:
    promtool = require("promtool", PROMTOOL)
    for args in (
        ["check", "rules", "deploy/prometheus/alerts.yml"],
        ["check", "config", "deploy/prometheus/prometheus.yml"],
    ):
        out = subprocess.run(
            [promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_promtool_unit_test() -> None:
    promtool = require("promtool", PROMTOOL)
    out = subprocess.run(
        [promtool, "test", "rules", "tests/prometheus/alerts_test.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((ROOT / "tests/prometheus/alerts_test.yml").read_text())
    fired = {
        t["alertname"]
        for case in tests["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    assert alerts == fired, f"alerts never shown firing in a test: {alerts - fired}"


def promql_expressions() -> list[str]:
    """Every PromQL expression in the alert rules and the dashboard."""
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((ROOT / "deploy/grafana/dashboards/fraud-consumer.json").read_text())
    for panel in dash["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    return [e.replace("$__rate_interval", "1m") for e in exprs]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(fraud_[a-z_]+|process_[a-z_]+)\b", expr))


def test_expressions_were_found() -> None:
    exprs = promql_expressions()
    assert len(exprs) > 30
    assert all(metric_names(e) or "up{" in e for e in exprs)


def test_the_batch_crontab_uses_flags_the_cli_accepts() -> None:
    lines = (ROOT / "deploy/batch/crontab").read_text().splitlines()
    (line,) = [x for x in lines if "fraud-consumer batch" in x and not x.startswith("#")]
    command = line.split(".venv/bin/fraud-consumer ", 1)[1].split(" >>", 1)[0]
    build_parser().parse_args(shlex.split(command.replace("$d", "2026-01-01")))


def test_ray_job_runs_the_batch_command_on_shared_storage() -> None:
    job = yaml.safe_load((ROOT / "deploy/kubernetes/ray-batch-job.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayCronJob")
    spec = job["spec"]["jobTemplate"]
    command = spec["entrypoint"].split("exec fraud-consumer ", 1)[1]
    args = build_parser().parse_args(shlex.split(command.replace("$d", "2026-01-01")))
    assert (args.command, args.engine, args.ray_address) == ("batch", "ray", "auto")
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]
    ]
    images = {c["image"] for p in pods for c in p["containers"]}
    images.add(spec["submitterPodTemplate"]["spec"]["containers"][0]["image"])
    assert len(images) == 1  # one image (with the ray extra) everywhere
    for pod in pods:  # actors read and write the lake themselves: every pod mounts it
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
        (mount,) = [
            m
            for c in pod["containers"]
            for m in c["volumeMounts"]
            if claims[m["name"]] == "data-lake"
        ]
        for path in (args.input, str(args.output), str(args.dlq_output)):
            assert path.startswith(mount["mountPath"] + "/")
        assert pod["securityContext"]["runAsNonRoot"] is True
    workers = cluster["workerGroupSpecs"][0]
    assert int(workers["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]) >= 1


def test_every_alert_links_to_its_runbook_row() -> None:
    readme = (ROOT / "README.md").read_text()
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) > 15
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        anchor = f"runbook-{rule['alert'].lower()}"
        assert url == f"README.md#{anchor}"
        # the anchor opens the alert's own row of a runbook table
        assert f'| <a id="{anchor}"></a>`{rule["alert"]}` (' in readme, rule["alert"]
