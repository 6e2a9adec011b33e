"""The package layout keeps its rules: a pure scoring core, drivers that never import each
other, training on the core only, no import cycles, no module (Python or Cython) over
400 lines.

Imports are read with ``ast`` (every import statement, at module level or inside a
function, absolute or relative), so a rule broken by a lazy or relative import fails too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = "consumer"
MAX_LINES = 400
DRIVERS = ("stream", "batch", "serve")
# what a driver may import besides itself
SHARED = ("scoring", "ops", "kafka", "state", "options")
BELOW_DRIVERS = ("ops", "kafka", "state", "options")
# Kafka client libraries the core must not touch, registry client included (that lives in
# consumer/kafka/schema_registry.py behind the core's SchemaRegistry protocol).
KAFKA_CLIENTS = ("confluent_kafka", "kafka", "aiokafka")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted name as written (resolved to a module where one exists)
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``root``."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _absolute(importer: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from`` import names."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's package; a package is its own
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(root: Path) -> Iterator[Import]:
    known = modules(root)
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                module = _absolute(name, path, node)
                for alias in node.names:
                    # `from consumer.ops import logs` imports the module consumer.ops.logs
                    sub = f"{module}.{alias.name}"
                    yield Import(name, sub if sub in known else module, node.lineno)


def layer(module: str) -> str:
    """The top-level part of the package a module belongs to (``scoring``, ``cli``...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(root: Path) -> list[str]:
    found = []
    for imp in imports(root):
        src = layer(imp.importer)
        where = f"{imp.importer} (line {imp.line}) imports {imp.imported}"
        if not imp.imported.startswith(PACKAGE + "."):
            if src == "scoring" and imp.imported.split(".")[0] in KAFKA_CLIENTS:
                found.append(f"{where}: the scoring core imports no Kafka client")
            continue
        dst = layer(imp.imported)
        if src == dst:
            continue
        if src == "scoring":
            found.append(f"{where}: the scoring core imports only itself")
        elif src in DRIVERS and dst not in SHARED:
            found.append(f"{where}: a driver imports only the core, ops, kafka, state, options")
        elif src == "training" and dst != "scoring":
            found.append(f"{where}: training imports the core only")
        elif src in BELOW_DRIVERS and dst not in ("scoring", *BELOW_DRIVERS):
            found.append(f"{where}: {src} sits below the drivers and imports none of them")
    return found


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between modules (strongly connected components of size > 1)."""
    graph: dict[str, set[str]] = {m: set() for m in modules(root)}
    for imp in imports(root):
        if imp.imported in graph and imp.imported != imp.importer:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_layout_rules_hold() -> None:
    assert violations(ROOT) == []


def test_no_import_cycles() -> None:
    assert cycles(ROOT) == []


def long_modules(root: Path) -> dict[str, int]:
    """Python and Cython sources of the package over MAX_LINES lines."""
    sources = [*(root / PACKAGE).rglob("*.py"), *(root / PACKAGE).rglob("*.pyx")]
    return {
        str(path.relative_to(root)): n
        for path in sources
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }


def test_no_module_over_400_lines() -> None:
    assert long_modules(ROOT) == {}


def test_a_long_cython_module_is_reported(tmp_path: Path) -> None:
    (tmp_path / PACKAGE / "scoring").mkdir(parents=True)
    (tmp_path / PACKAGE / "scoring" / "_x.pyx").write_text("x = 1\n" * (MAX_LINES + 1))
    assert long_modules(tmp_path) == {f"{PACKAGE}/scoring/_x.pyx": MAX_LINES + 1}


def test_every_subpackage_is_installed() -> None:
    """pyproject lists packages explicitly: a new sub-package must be added there."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {m for m, p in modules(ROOT).items() if p.name == "__init__.py"}
    assert on_disk - listed == set()


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("scoring/x.py", "from consumer.stream.loop import ScoringLoop\n", "core imports only"),
        ("scoring/x.py", "import confluent_kafka\n", "no Kafka client"),
        ("scoring/x.py", "from confluent_kafka import Consumer\n", "no Kafka client"),
        ("scoring/x.py", "from confluent_kafka.schema_registry import Schema\n", "no Kafka client"),
        ("scoring/x.py", "from ..stream.loop import ScoringLoop\n", "core imports only"),
        ("stream/x.py", "from ..batch import job\n", "a driver imports"),
        ("ops/x.py", "def f():\n    from ..stream import loop\n", "sits below the drivers"),
        ("stream/x.py", "def f():\n    from consumer.batch import job\n", "a driver imports"),
        ("batch/x.py", "from consumer.devtools import demo\n", "a driver imports"),
        ("training/x.py", "from consumer.ops import metrics\n", "training imports the core"),
        ("ops/x.py", "from consumer.stream import loop\n", "sits below the drivers"),
    ],
)
def test_a_broken_rule_is_reported(tmp_path: Path, path: str, text: str, expected: str) -> None:
    pkg = tmp_path / PACKAGE
    for sub in ("scoring", "stream", "batch", "devtools", "training", "ops"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    for name in ("stream/loop.py", "batch/job.py", "devtools/demo.py", "ops/metrics.py"):
        (pkg / name).write_text("")
    (pkg / path).write_text(text)
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0], found


def test_a_cycle_is_reported(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE / "stream"
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from consumer.stream import b\n")
    (pkg / "b.py").write_text("def f():\n    from consumer.stream.a import x\n")
    assert cycles(tmp_path) == [["consumer.stream.a", "consumer.stream.b"]]
