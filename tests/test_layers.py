"""The house's layering (docs/development.md, "The map of the house"), checked from the
imports: no import circle, and no arrow from a lower layer up to a higher one. An import
inside a function counts (a lazy import still ties two modules); one under
``if TYPE_CHECKING:`` does not."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fakemms"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, list[str]]] = [
    ("base", ["fakemms.version", "fakemms.errors", "fakemms.nesting", "fakemms.headers",
              "fakemms.filenames", "fakemms.rng", "fakemms.clock", "fakemms.models",
              "fakemms.logs", "fakemms.generate", "fakemms.protocols.capture",
              "fakemms.protocols.mime", "fakemms.protocols.mm7.tables",
              "fakemms.protocols.mm7.media", "fakemms.remote_content.freshness"]),
    ("codecs and settings", ["fakemms.config", "fakemms.protocols", "fakemms.scenario"]),
    ("state", ["fakemms.store", "fakemms.persistence"]),
    ("machinery", ["fakemms.scheduler", "fakemms.outbound", "fakemms.callbacks",
                   "fakemms.callback_http", "fakemms.remote_content", "fakemms.guards",
                   "fakemms.server", "fakemms.http_framing",
                   "fakemms.http_connections"]),
    ("services", ["fakemms.services"]),
    ("wiring", ["fakemms.backend"]),
    ("edges", ["fakemms.protocols.openmarket.views", "fakemms.protocols.mm7.views",
               "fakemms.protocols.legacy.views", "fakemms.control", "fakemms.ui"]),
    ("app", ["fakemms.app"]),
    ("around the server", ["fakemms.cli", "fakemms.client", "fakemms.pytest_plugin",
                           "fakemms.testing", "fakemms.__main__", "fakemms"]),
]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]
             ) -> list[str]:
    if isinstance(node, ast.Import):
        found = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        found = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                 for a in node.names]
    out = []
    for target in found:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in known and target != name:
            out.append(target)
    return out


def imports() -> dict[str, set[str]]:
    """Each module's imports of the package's modules, lazy ones included."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test)
                       for n in ast.walk(block)}
        graph[name] = {t for node in ast.walk(tree)
                       if isinstance(node, ast.Import | ast.ImportFrom)
                       and id(node) not in typing_only
                       for t in _targets(name, path, node, set(known))}
    return graph


def layer_of(module: str) -> int:
    best, level = -1, -1
    for n, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), n
    assert level >= 0, f"{module} is in no layer: add it to LAYERS and the map"
    return level


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_import_runs_up_a_layer() -> None:
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) -> {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in imports().items() for b in targets
              if layer_of(b) > layer_of(a)]
    assert not upward, "imports from a lower layer up to a higher one:\n" + "\n".join(upward)


def test_no_import_circle() -> None:
    graph = imports()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_checker_sees_a_lazy_import() -> None:
    """The graph counts an import inside a function (backend's journal import is one)."""
    assert "fakemms.persistence" in imports()["fakemms.backend"]
