"""The examples in the docstrings run and print what they say (doctest)."""

from __future__ import annotations

import doctest
import importlib
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
