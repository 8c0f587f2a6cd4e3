"""The import layers of docs/architecture.md, checked on the import graph that
grimp (the graph library under import-linter) builds from the source: every
import statement counts, also one inside a function or under ``TYPE_CHECKING``.

- agentctl imports of agentd only ``agentd.protocol`` and ``agentd.shared``
  (and the package root, which holds only the version), directly or through
  those; ``agentd.shared`` imports of agentd only ``agentd.protocol``, and
  ``agentd.protocol`` nothing else of agentd;
- no cycles: no module of agentd or agentctl imports, directly or not, a
  module that imports it back; and none between agentd's parts (its
  first-level packages and modules, e.g. ``agentd.agent`` and ``agentd.app``),
  so each part can be read knowing only the parts below it.
"""

from __future__ import annotations

import grimp
import pytest

CLIENT_MAY_IMPORT = ("agentd.protocol", "agentd.shared")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("agentd", "agentctl", cache_dir=None)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def reached_outside(graph: grimp.ImportGraph, package: str, allowed: tuple[str, ...]) -> list[str]:
    """The agentd modules ``package`` imports, directly or not, that are not in
    ``allowed`` (nor the root ``agentd``), each with its shortest import chain."""
    out = []
    for module in sorted(graph.find_upstream_modules(package, as_package=True)):
        if module == "agentd" or not module.startswith("agentd.") or _within(module, (package, *allowed)):
            continue
        chain = min(graph.find_shortest_chains(package, module, as_packages=True), key=len)
        out.append(" -> ".join(chain))
    return out


@pytest.mark.parametrize("package, allowed", [
    ("agentctl", CLIENT_MAY_IMPORT),
    ("agentd.shared", ("agentd.protocol",)),
    ("agentd.protocol", ()),
])
def test_layers(graph, package, allowed):
    outside = reached_outside(graph, package, allowed)
    assert not outside, (f"{package} may import of agentd only {', '.join(allowed) or 'itself'}; "
                         "move what it needs into agentd.shared (or agentd.protocol, for a wire fact):\n  "
                         + "\n  ".join(outside))


def import_cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each cycle of the module graph once, as its chain of imports."""
    seen: set[frozenset[str]] = set()
    out = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(imported, importer)
            if back is None or frozenset(back) in seen:
                continue
            seen.add(frozenset(back))
            out.append(" -> ".join((importer, *back)))
    return out


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, ("import cycles (pass the dependency in, or move what both need into a module "
                        "below them):\n  " + "\n  ".join(cycles))


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def part_cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each import cycle between agentd's first-level parts once, as its chain
    of parts with the imports that make each step."""
    edges: dict[str, dict[str, str]] = {}  # part -> imported part -> one import that makes the edge
    for importer in sorted(graph.modules):
        if not importer.startswith("agentd."):
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            a, b = _part(importer), _part(imported)
            if imported.startswith("agentd.") and a != b:
                edges.setdefault(a, {}).setdefault(b, f"{importer} -> {imported}")

    def path(start: str, goal: str) -> list[str] | None:  # shortest, breadth first
        came: dict[str, str] = {start: start}
        todo = [start]
        for node in todo:
            for nxt in sorted(edges.get(node, {})):
                if nxt not in came:
                    came[nxt] = node
                    if nxt == goal:
                        out = [goal]
                        while out[-1] != start:
                            out.append(came[out[-1]])
                        return out[::-1]
                    todo.append(nxt)
        return None

    seen: set[frozenset[str]] = set()
    out = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            back = path(b, a)
            if back is None or frozenset(back) in seen:
                continue
            seen.add(frozenset(back))
            chain = [a, *back]
            out.append(" -> ".join(chain) + "  (" + "; ".join(edges[x][y] for x, y in zip(chain, chain[1:])) + ")")
    return out


def test_no_import_cycles_between_parts(graph):
    cycles = part_cycles(graph)
    assert not cycles, ("import cycles between agentd's parts (pass the dependency in, or move what both "
                        "need into a part below them):\n  " + "\n  ".join(cycles))


def test_the_checks_see_a_broken_layer_and_a_cycle():
    """The checks catch what they are for: on a graph with a forbidden import
    added, then an import back."""
    broken = grimp.build_graph("agentd", "agentctl", cache_dir=None)
    broken.add_import(importer="agentctl.render", imported="agentd.store.db")
    assert "agentctl.render -> agentd.store.db" in reached_outside(broken, "agentctl", CLIENT_MAY_IMPORT)
    broken.add_import(importer="agentd.protocol.loglevels", imported="agentd.protocol.methods")  # methods imports it
    assert import_cycles(broken) == ["agentd.protocol.loglevels -> agentd.protocol.methods -> agentd.protocol.loglevels"]
    assert part_cycles(broken) == []  # inside one part
    broken.add_import(importer="agentd.runs", imported="agentd.app")  # a type hint of the whole App
    assert ("agentd.app -> agentd.runs -> agentd.app  (agentd.app -> agentd.runs; agentd.runs -> agentd.app)"
            in part_cycles(broken))
