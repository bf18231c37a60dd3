"""The package's import graph has no cycles, and dependencies point one way.

Every ``import`` statement in ``src/conv1d`` counts, at module level or inside a function
(a lazy import is still a dependency), ``TYPE_CHECKING`` blocks included; ``from P import m``
of submodules counts as importing those submodules. Run alone, this
file prints the cycles it finds: ``python tests/test_imports.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "conv1d"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """conv1d module -> the conv1d modules it imports."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                submodules = [f"{source}.{alias.name}" for alias in node.names]
                # ``from P import m`` of submodules only depends on them (P, an ancestor of
                # the importer, is initialised first anyway); any other name depends on P.
                targets = submodules + ([] if all(m in modules for m in submodules) else [source])
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert ("conv1d.executor" in graph and "conv1d.kernels.gemm" in graph["conv1d.executor"]) or graph[
        "conv1d.executor"
    ]
    found = cycles(graph)
    assert not found, f"import cycles: {found}"


def test_the_checker_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_kernels_import_no_entry_point() -> None:
    """Kernels import numpy/scipy/numba and each other only: never the executor, layers,
    streaming, explanations, torch or Dask."""
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("conv1d.kernels"):
            outside = {t for t in targets if not t.startswith("conv1d.kernels")}
            assert not outside, f"{name} imports {outside}"


def test_only_the_executor_reaches_the_kernel_table() -> None:
    """Entry points reach kernels through conv1d.executor (streaming, layers, torch, Dask,
    functional, grad import no kernel module that computes)."""
    graph = import_graph()
    computing = {
        "conv1d.kernels.gemm",
        "conv1d.kernels.direct",
        "conv1d.kernels.fft",
        "conv1d.kernels.winograd",
    }
    # (planning's calibration times the kernels themselves: their rates, for the cost model)
    allowed = {"conv1d.executor", "conv1d.dispatch", "conv1d.planning"}
    for name, targets in graph.items():
        if name.startswith("conv1d.kernels") or name in allowed:
            continue
        reached = targets & computing
        # conv1d.torch's runtime sets who does the products (gemm.use) and the threads
        if name == "conv1d.torch._runtime":
            reached -= {"conv1d.kernels.gemm"}
        assert not reached, f"{name} imports {reached}: compute through conv1d.executor instead"


if __name__ == "__main__":
    print(cycles(import_graph()) or "no import cycles")
