"""Turn CustomResourceDefinitions into the JSON schemas the deploy tests validate with.

    python extract.py CRD.yaml... --out .

For each served, not deprecated version of each CRD, writes
``<group>/<kind lowercased>_<version>.json``: the version's ``openAPIV3Schema`` without
its descriptions, made strict the way the API server is (as kubeconform's
openapi2jsonschema does): objects that list their properties refuse others unless they
preserve unknown fields, ``int-or-string`` accepts both. SOURCES.md says which release of
which project each file came from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def strict(node: Any) -> Any:
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    # descriptions are documentation, not rules: dropped to keep the files small
    out = {k: strict(v) for k, v in node.items() if k != "description"}
    if out.get("format") == "int-or-string" or out.get("x-kubernetes-int-or-string"):
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("crds", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("."))
    ns = parser.parse_args()
    for path in ns.crds:
        for crd in yaml.safe_load_all(path.read_text()):
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served", True) or version.get("deprecated"):
                    continue
                schema = strict(version["schema"]["openAPIV3Schema"])
                # apiVersion, kind and metadata as the API server requires them
                schema.setdefault("properties", {}).update(
                    apiVersion={"type": "string", "enum": [f"{spec['group']}/{version['name']}"]},
                    kind={"type": "string", "enum": [spec["names"]["kind"]]},
                    metadata={"type": "object"},
                )
                schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
                target = (
                    ns.out
                    / spec["group"]
                    / f"{spec['names']['kind'].lower()}_{version['name']}.json"
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(target)


if __name__ == "__main__":
    main()
