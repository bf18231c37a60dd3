"""The examples in the docstrings run and print what they say (doctest)."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import conv1d

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(conv1d.__path__, "conv1d.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"


def test_the_public_modules_have_examples() -> None:
    # the modules users read first must show examples
    finder = doctest.DocTestFinder()
    for name in ("conv1d.functional", "conv1d.layers", "conv1d.streaming"):
        examples = sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
        assert examples >= 3, f"{name} has {examples} docstring examples"


PUBLIC_MODULES = ("conv1d", "conv1d.grad", "conv1d.streaming", "conv1d.torch", "conv1d.dask")


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                found.append((f"{module_name}.{name}", obj))
            elif inspect.isclass(obj) and obj.__module__.startswith("conv1d"):
                for klass in obj.__mro__:  # its own methods and those it inherits from conv1d's classes
                    if not klass.__module__.startswith("conv1d"):
                        continue
                    for attr, member in vars(klass).items():
                        if inspect.isfunction(member) and (
                            not attr.startswith("_") or attr in ("__init__", "__call__")
                        ):
                            found.append((f"{module_name}.{name}.{attr}", member))
    return found


def test_the_public_api_is_fully_annotated() -> None:
    """py.typed promises it: every parameter and return of a public function or method."""
    missing = []
    for where, fn in _public_callables():
        signature = inspect.signature(fn)
        for p in signature.parameters.values():
            if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
                missing.append(f"{where}({p.name})")
        if signature.return_annotation is inspect.Signature.empty:
            missing.append(f"{where} -> ?")
    assert not missing, f"not annotated: {missing}"
