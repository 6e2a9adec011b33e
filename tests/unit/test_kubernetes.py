"""deploy/kubernetes, offline (no cluster): the base renders; every object validates against
its schema (kubernetes-validate for built-in kinds, the CRD schemas kept in the repo with
check-jsonschema); the settings, probes, ports, image, secrets, security and scaling
agree with the CLI, the Dockerfile and the compose file."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from consumer.cli import build_parser
from consumer.kafka.settings import KAFKA_OPTIONS
from tests.conftest import ROOT
from tests.tools import require

BASE = ROOT / "deploy/kubernetes"
SCHEMAS = BASE / "crd-schemas"
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")  # the oldest and a recent release we support
KUBECTL = "kubectl (its built-in Kustomize renders the base)"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
Object = dict[str, Any]


@pytest.fixture(scope="module")
def objects() -> list[Object]:
    kubectl = require("kubectl", KUBECTL)
    out = subprocess.run(
        [kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(objects: list[Object], kind: str, name: str) -> Object:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    return found


def pod_spec(obj: Object) -> Object:
    if obj["kind"] == "CronJob":
        spec: Object = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    spec = obj["spec"]["template"]["spec"]
    return spec


def container(obj: Object) -> Object:
    c: Object = pod_spec(obj)["containers"][0]
    return c


def config(objects: list[Object], name: str) -> dict[str, str]:
    data: dict[str, str] = one(objects, "ConfigMap", name)["data"]
    return data


def custom_schema(obj: Object) -> Path | None:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    if not group or "." not in group or group.endswith("k8s.io"):
        return None
    return SCHEMAS / group / f"{str(obj['kind']).lower()}_{version}.json"


def invalid(obj: Object, tmp_path: Path) -> list[str]:
    """Why ``obj`` is not valid (empty: it is), against every supported release."""
    schema = custom_schema(obj)
    if schema is None:
        errors = []
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{version}: {exc.message}")
        return errors
    assert schema.exists(), f"no schema for {obj['apiVersion']} {obj['kind']} in {SCHEMAS}"
    document = tmp_path / f"{obj['kind']}-{obj['metadata']['name']}.json"
    document.write_text(json.dumps(obj))
    out = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(schema), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return [] if out.returncode == 0 else [out.stdout + out.stderr]


def test_the_base_holds_every_piece(objects: list[Object]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"].rsplit("-", 1)[0] if o["kind"] in
              ("ConfigMap", "Secret") else o["metadata"]["name"]) for o in objects}  # fmt: skip
    for needed in [
        ("Deployment", "fraud-scorer"), ("PodDisruptionBudget", "fraud-scorer"),
        ("ScaledObject", "fraud-scorer"), ("TriggerAuthentication", "fraud-kafka"),
        ("Deployment", "fraud-api"), ("Service", "fraud-api"),
        ("HorizontalPodAutoscaler", "fraud-api"), ("PodDisruptionBudget", "fraud-api"),
        ("PodMonitor", "fraud-scorer"), ("PodMonitor", "fraud-api"),
        ("CronJob", "fraud-batch"), ("RayCronJob", "fraud-batch-ray"),
        ("PersistentVolumeClaim", "fraud-models"), ("Secret", "fraud-kafka-credentials"),
        ("ConfigMap", "fraud-scorer-config"), ("ConfigMap", "fraud-api-config"),
        ("ConfigMap", "fraud-batch-config"),
    ]:  # fmt: skip
        assert needed in kinds, needed


def test_every_object_validates_against_its_schema(objects: list[Object], tmp_path: Path) -> None:
    publish = yaml.safe_load((BASE / "jobs/model-publish.yaml").read_text())
    publish["metadata"]["name"] = publish["metadata"].pop("generateName") + "x"
    for obj in [*objects, publish]:
        assert invalid(obj, tmp_path) == [], f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize(
    ("kind", "name", "path"),
    [
        (
            "Deployment",
            "fraud-scorer",
            ["spec", "template", "spec", "containers", 0, "livenessProb"],
        ),
        ("Deployment", "fraud-api", ["spec", "replicas"]),
        ("ScaledObject", "fraud-scorer", ["spec", "triggers", 0, "metadata", "lagThreshold"]),
        ("ScaledObject", "fraud-scorer", ["spec", "maxReplicas"]),
        ("PodMonitor", "fraud-api", ["spec", "podMetricsEndpoints", 0, "port"]),
        ("RayCronJob", "fraud-batch-ray", ["spec", "jobTemplate", "entrypointt"]),
    ],
)
def test_the_validation_catches_a_broken_object(
    objects: list[Object], tmp_path: Path, kind: str, name: str, path: list[Any]
) -> None:
    """The checks above can fail: a misspelt field, a number where a string belongs..."""
    broken = copy.deepcopy(one(objects, kind, name))
    node = broken
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    node[last] = 3 if last in node and isinstance(node[last], str) else "three"
    assert invalid(broken, tmp_path) != []


def _print_config(command: str, env: dict[str, str]) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    out = subprocess.run(
        [sys.executable, "-m", "consumer", command, "--print-config"],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    printed: dict[str, Any] = json.loads(out.stdout)
    return printed


def _same(printed: Any, raw: str) -> bool:
    if isinstance(printed, bool) or not isinstance(printed, int | float):
        return str(printed) == raw
    return float(printed) == float(raw)


def _kafka_values(printed: dict[str, Any], name: str, raw: str, properties: str) -> bool:
    """A Kafka setting shows in the client configurations the command prints."""
    consumer = printed.get("consumer", {})
    if name == "FRAUD_BOOTSTRAP_SERVERS":
        return bool(consumer.get("bootstrap.servers") == raw)
    if name == "FRAUD_CLIENT_PROPERTIES":
        pairs = [
            line.split("=", 1)
            for line in properties.splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        ]
        return bool(pairs) and all(str(consumer.get(k.strip())) == v.strip() for k, v in pairs)
    for prefix, client in (("FRAUD_CONSUMER_", "consumer"), ("FRAUD_PRODUCER_", "producer")):
        if name.startswith(prefix):
            key = name.removeprefix(prefix).lower().replace("_", ".")
            return str(printed.get(client, {}).get(key)) == raw
    return False


@pytest.mark.parametrize(("configmap", "command"), [("fraud-scorer-config", "run"),
                                                    ("fraud-api-config", "serve")])  # fmt: skip
def test_every_fraud_variable_is_a_setting_the_service_takes(
    objects: list[Object], tmp_path: Path, configmap: str, command: str
) -> None:
    data = config(objects, configmap)
    properties = (BASE / "config/client.properties").read_text()
    env = {k: v for k, v in data.items() if k.startswith("FRAUD_")}
    if "FRAUD_CLIENT_PROPERTIES" in env:  # the mounted Secret's file, here a copy of it
        (tmp_path / "client.properties").write_text(properties)
        env["FRAUD_CLIENT_PROPERTIES"] = str(tmp_path / "client.properties")
    printed = _print_config(command, env)
    for name, raw in env.items():
        dest = name.removeprefix("FRAUD_").lower()
        if dest in printed:
            assert _same(printed[dest], raw), f"{name}={raw} printed as {printed[dest]!r}"
        else:
            assert _kafka_values(printed, name, raw, properties), f"{name} is not a setting"


def test_the_batch_job_takes_its_settings() -> None:
    from consumer.batch.settings import BATCH_OPTIONS

    names = {opt.env for opt in (*BATCH_OPTIONS, *KAFKA_OPTIONS)}
    for env_file in ("kafka.env", "model.env", "batch.env"):
        for line in (BASE / "config" / env_file).read_text().splitlines():
            name = line.split("=", 1)[0]
            if name.startswith("FRAUD_") and name not in ("FRAUD_LOG_FORMAT", "FRAUD_MODEL_POLL_S"):
                assert name in names, f"{env_file}: {name} is not a batch setting"


def test_probes_ports_and_drain_times_match_the_cli(objects: list[Object]) -> None:
    scorer, api = (
        one(objects, "Deployment", "fraud-scorer"),
        one(objects, "Deployment", "fraud-api"),
    )
    run = _print_config("run", {})
    serve = _print_config("serve", {})
    for deployment, port, paths in (
        (scorer, run["metrics_port"], ("/healthz", "/readyz")),
        (api, serve["port"], ("/healthz", "/readyz")),
    ):
        c = container(deployment)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in (("startupProbe", paths[0]), ("livenessProbe", paths[0]),
                            ("readinessProbe", paths[1])):  # fmt: skip
            get = c[probe]["httpGet"]
            assert get["path"] == path and ports[get["port"]] == port, (probe, get)
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60  # a model load
    grace = pod_spec(scorer)["terminationGracePeriodSeconds"]
    assert grace >= run["flush_timeout"] + 15  # the drain: flush, commit, leave the group
    pre_stop = int(container(api)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert (
        pod_spec(api)["terminationGracePeriodSeconds"] >= pre_stop + serve["graceful_timeout"] + 5
    )


def test_image_and_ports_agree_with_the_dockerfile_and_compose(objects: list[Object]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    exposed = {int(p) for line in dockerfile.splitlines() if line.startswith("EXPOSE")
               for p in line.split()[1:]}  # fmt: skip
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    compose_image = compose["scorer"]["image"].split(":")[0]
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert {i["newTag"] for i in kustomization["images"]} == {version.group(1)}
    for obj in objects:
        if obj["kind"] in ("Deployment", "CronJob"):
            for c in pod_spec(obj)["containers"] + pod_spec(obj).get("initContainers", []):
                assert c["image"] == f"{compose_image}:{version.group(1)}", c["image"]
    scorer_port = container(one(objects, "Deployment", "fraud-scorer"))["ports"][0]["containerPort"]
    api_port = container(one(objects, "Deployment", "fraud-api"))["ports"][0]["containerPort"]
    assert {scorer_port, api_port} <= exposed
    assert f"--metrics-port={scorer_port}" in compose["scorer"]["command"]
    assert f"--port={api_port}" in compose["api"]["command"]
    assert config(objects, "fraud-scorer-config")["FRAUD_METRICS_PORT"] == str(scorer_port)
    assert config(objects, "fraud-api-config")["FRAUD_PORT"] == str(api_port)
    assert str(api_port) in dockerfile and "9108" in dockerfile


def _containers(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "CronJob"):
            spec = pod_spec(obj)
            for c in spec["containers"] + spec.get("initContainers", []):
                yield obj, c


def test_secrets_reach_librdkafka_as_a_mounted_file_only(objects: list[Object]) -> None:
    secret = one(objects, "Secret", "fraud-kafka-credentials")["metadata"]["name"]
    for obj, c in _containers(objects):
        for var in c.get("env", []):
            assert "valueFrom" not in var, f"{obj['metadata']['name']}: a secret in env"
        text = " ".join(c.get("args", []) + c.get("command", []))
        assert not re.search(r"password|sasl\.|secret", text, re.I), text
    for name in ("fraud-scorer", "fraud-batch"):
        obj = one(objects, "Deployment" if name == "fraud-scorer" else "CronJob", name)
        env = config(
            objects, "fraud-scorer-config" if name == "fraud-scorer" else "fraud-batch-config"
        )
        volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
        mounts = {m["name"]: m for m in container(obj)["volumeMounts"]}
        (name_of,) = [
            n for n, v in volumes.items() if v.get("secret", {}).get("secretName") == secret
        ]
        assert mounts[name_of]["readOnly"] is True
        assert env["FRAUD_CLIENT_PROPERTIES"] == mounts[name_of]["mountPath"] + "/client.properties"


def test_scorer_and_api_run_locked_down(objects: list[Object]) -> None:
    for name in ("fraud-scorer", "fraud-api"):
        spec = pod_spec(one(objects, "Deployment", name))
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]


def test_lag_scaling_stops_at_the_partition_count(objects: list[Object]) -> None:
    scaled = one(objects, "ScaledObject", "fraud-scorer")["spec"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    topics = dict(
        re.findall(r"([\w.]+):(\d+)", compose["topics"]["command"][0].split("for spec in ")[1])
    )
    scorer_config = config(objects, "fraud-scorer-config")
    assert scaled["maxReplicaCount"] == int(topics[scorer_config["FRAUD_INPUT_TOPIC"]])
    assert 1 < scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka" and trigger["metadata"]["allowIdleConsumers"] == "false"
    for key, value in trigger["metadata"].items():
        if key.endswith("FromEnv"):
            assert value in scorer_config, f"{key}: {value} is not in the scorer's settings"
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    secret = one(objects, "Secret", "fraud-kafka-credentials")
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["data"]
    assert scaled["scaleTargetRef"]["name"] == "fraud-scorer"


def test_scraping_labels_match_the_alert_rules(objects: list[Object]) -> None:
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    jobs = set(re.findall(r'job="([\w-]+)"', rules))
    seen = set()
    for name in ("fraud-scorer", "fraud-api"):
        monitor = one(objects, "PodMonitor", name)["spec"]
        deployment = one(objects, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert monitor["selector"]["matchLabels"].items() <= labels.items()
        seen.add(labels[monitor["jobLabel"]])
        ports = {p["name"] for p in container(deployment)["ports"]}
        assert {e["port"] for e in monitor["podMetricsEndpoints"]} <= ports
    assert seen == jobs == {"fraud-consumer", "fraud-api"}
    plain = yaml.safe_load((ROOT / "deploy/prometheus/prometheus-kubernetes.yml").read_text())
    for job in plain["scrape_configs"]:
        relabel = job["relabel_configs"]
        assert {"source_labels": ["__meta_kubernetes_pod_label_prometheus_job"],
                "target_label": "job"} in relabel  # fmt: skip
        assert job["job_name"] in jobs


def test_the_model_volume_and_its_publish_job(objects: list[Object]) -> None:
    claim = one(objects, "PersistentVolumeClaim", "fraud-models")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for deployment, settings in (("fraud-scorer", "fraud-scorer-config"),
                                 ("fraud-api", "fraud-api-config")):  # fmt: skip
        obj = one(objects, "Deployment", deployment)
        volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
        (mount,) = [m for m in container(obj)["volumeMounts"]
                    if volumes[m["name"]].get("persistentVolumeClaim")]  # fmt: skip
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == "fraud-models"
        assert mount["readOnly"] is True
        assert config(objects, settings)["FRAUD_MODEL"] == mount["mountPath"]
    seed = pod_spec(one(objects, "Deployment", "fraud-scorer"))["initContainers"][0]
    args = build_parser().parse_args(seed["args"])
    assert (args.model_command, args.if_empty, str(args.to)) == ("publish", True, "/models")
    publish = yaml.safe_load((BASE / "jobs/model-publish.yaml").read_text())
    job_container = publish["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(job_container["args"])
    assert (args.model_command, args.promote, str(args.to)) == ("publish", True, "/models")


def test_batch_schedules_run_commands_the_cli_accepts(objects: list[Object]) -> None:
    cron = one(objects, "CronJob", "fraud-batch")
    script = container(cron)["args"][0].split("exec fraud-consumer ", 1)[1]
    script = re.sub(r'"\$\(date[^)]*\)"', "2026-01-01T00:00:00Z", script)
    build_parser().parse_args(shlex.split(script))
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    ray = one(objects, "RayCronJob", "fraud-batch-ray")["spec"]["jobTemplate"]
    command = ray["entrypoint"].split("exec fraud-consumer ", 1)[1]
    args = build_parser().parse_args(shlex.split(command.replace("$d", "2026-01-01")))
    assert (args.engine, str(args.model)) == ("ray", "/models")
