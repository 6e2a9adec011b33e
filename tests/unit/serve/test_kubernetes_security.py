"""deploy/kubernetes/components/api-security, offline: an overlay of the base with it renders
and validates; the API serves HTTPS with its files from the mounted Secrets, the probes
and Prometheus speak HTTPS, and every setting it adds is one `serve` takes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tools import require
from tests.unit.test_kubernetes import (
    BASE,
    KUBECTL,
    Object,
    _print_config,
    config,
    container,
    invalid,
    one,
    pod_spec,
)

COMPONENT = BASE / "components/api-security"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> list[Object]:
    kubectl = require("kubectl", KUBECTL)
    overlay = tmp_path_factory.mktemp("overlay")
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{os.path.relpath(BASE, overlay)}]\n"
        f"components: [{os.path.relpath(COMPONENT, overlay)}]\n"
    )
    out = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_the_secured_api_validates(secured: list[Object], tmp_path: Path) -> None:
    for kind, name in (("Deployment", "fraud-api"), ("Service", "fraud-api"),
                       ("PodMonitor", "fraud-api"), ("ConfigMap", "fraud-api-config")):  # fmt: skip
        obj = one(secured, kind, name)
        assert invalid(obj, tmp_path) == [], f"{kind}/{name}"


def test_the_files_the_settings_name_are_the_mounted_secrets(secured: list[Object]) -> None:
    api = one(secured, "Deployment", "fraud-api")
    settings = config(secured, "fraud-api-config")
    mounts = {m["name"]: m["mountPath"] for m in container(api)["volumeMounts"]}
    volumes = {v["name"]: v["secret"] for v in pod_spec(api)["volumes"] if "secret" in v}
    files = {
        f"{mounts[name]}/{item['path']}": (secret["secretName"], item["key"])
        for name, secret in volumes.items()
        for item in secret["items"]
    }
    assert files[settings["FRAUD_TLS_CERT"]] == ("fraud-api-tls", "tls.crt")
    assert files[settings["FRAUD_TLS_KEY"]] == ("fraud-api-tls", "tls.key")
    assert files[settings["FRAUD_AUTH_TOKENS_FILE"]] == ("fraud-api-tokens", "tokens")
    # read-only, and whole directories: a subPath mount never sees a rotation
    secret_mounts = [m for m in container(api)["volumeMounts"] if m["name"] in volumes]
    assert all(m.get("readOnly") and "subPath" not in m for m in secret_mounts)


def test_probes_service_and_prometheus_speak_https(secured: list[Object]) -> None:
    api = container(one(secured, "Deployment", "fraud-api"))
    (port,) = api["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = api[probe]["httpGet"]
        assert (get["scheme"], get["port"]) == ("HTTPS", port["name"])
        assert get["path"] in ("/healthz", "/readyz")  # open: a kubelet sends no token
    (service_port,) = one(secured, "Service", "fraud-api")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"] and service_port["port"] == 443
    (endpoint,) = one(secured, "PodMonitor", "fraud-api")["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == port["name"] and endpoint["scheme"] == "https"
    assert endpoint["authorization"]["credentials"]["name"] == "fraud-api-tokens"
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == "fraud-api-tls"


def test_every_setting_it_adds_is_one_serve_takes(secured: list[Object]) -> None:
    settings = config(secured, "fraud-api-config")
    added = dict(line.split("=", 1) for line in (COMPONENT / "security.env").read_text().split())
    assert added and all(settings[k] == v for k, v in added.items())
    printed = _print_config("serve", {k: v for k, v in settings.items() if k.startswith("FRAUD_")})
    assert printed["tls_cert"] == added["FRAUD_TLS_CERT"]
    assert printed["tls_key"] == added["FRAUD_TLS_KEY"]
    assert printed["auth_tokens_file"] == added["FRAUD_AUTH_TOKENS_FILE"]
    assert printed["metrics_auth"] is (added["FRAUD_METRICS_AUTH"] == "on")
