"""deploy/kubernetes/components, offline: an overlay that adds every component to the base
renders, every object validates, and each component does what its comment says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tools import require
from tests.unit.test_kubernetes import BASE, KUBECTL, Object, container, invalid, one, pod_spec

COMPONENTS = sorted(p.name for p in (BASE / "components").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> list[Object]:
    kubectl = require("kubectl", KUBECTL)
    root = tmp_path_factory.mktemp("overlay")
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(BASE, root)],  # kustomize takes relative paths only
                "components": [os.path.relpath(BASE / "components" / c, root) for c in COMPONENTS],
            }
        )
    )
    out = subprocess.run(
        [kubectl, "kustomize", str(root)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_every_component_is_rendered() -> None:
    assert {"api-security", "static-membership"} <= set(COMPONENTS)


def test_every_object_of_the_overlay_validates(overlay: list[Object], tmp_path: Path) -> None:
    for obj in overlay:
        assert invalid(obj, tmp_path) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_static_membership_runs_the_scorers_as_a_statefulset_named_by_pod(
    overlay: list[Object],
) -> None:
    assert not [
        o for o in overlay if o["kind"] == "Deployment" and "scorer" in o["metadata"]["name"]
    ]
    scorer = one(overlay, "StatefulSet", "fraud-scorer")
    env = {e["name"]: e for e in container(scorer).get("env", [])}
    assert env["FRAUD_GROUP_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    target = one(overlay, "ScaledObject", "fraud-scorer")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", "fraud-scorer")
    config = one(overlay, "ConfigMap", "fraud-scorer-config")["data"]
    assert int(config["FRAUD_CONSUMER_SESSION_TIMEOUT_MS"]) >= 10_000
    # the PodDisruptionBudget and PodMonitor still select the scorer's pods
    labels = scorer["spec"]["template"]["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "PodMonitor"):
        selector = one(overlay, kind, "fraud-scorer")["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), kind
    assert container(scorer)["args"][0] == "run"
    assert pod_spec(scorer)["securityContext"]["runAsNonRoot"] is True
