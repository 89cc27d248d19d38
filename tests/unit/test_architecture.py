"""The import graph of `streamguard`: no module cycles anywhere (the layer contract itself is `make lint`)."""

from __future__ import annotations

import grimp


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges[module])
    return seen


def modules_in_cycles(edges: dict[str, set[str]]) -> list[str]:
    """The modules that import themselves back through others."""
    return sorted(module for module in edges if module in reachable(edges, module))


def test_cycle_check_finds_a_planted_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert modules_in_cycles(edges) == ["a", "b", "c"]


def test_no_module_imports_itself_back_through_others() -> None:
    graph = grimp.build_graph("streamguard")
    modules = set(graph.modules)
    # A submodule importing its own package (whose __init__ re-exports it) is not a cycle between siblings.
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) & modules if not m.startswith(i + ".")}
        for m in modules
    }
    assert modules_in_cycles(edges) == []
