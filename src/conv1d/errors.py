"""Errors raised by conv1d, and the helpers that word their messages.

Every error a user can cause is raised by :mod:`conv1d.spec` before any work is done.
Messages say what was expected, what was received (real shapes and values) and, where
we can guess, the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ConvError", "ConvTypeError", "mixed_dtypes"]


class ConvError(ValueError):
    """An invalid argument, shape or combination of options for a convolution."""


class ConvTypeError(ConvError, TypeError):
    """An argument of the wrong type or dtype.

    It is both a :class:`ConvError` (so a ``ValueError``) and a ``TypeError``, so either
    ``except`` clause catches it.
    """


def closest(word: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' hint for a misspelt option, or '' when nothing is close."""
    match = difflib.get_close_matches(str(word).lower(), list(choices), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def shape_str(shape: tuple[int, ...]) -> str:
    """Shapes written as Python tuples, ``(8, 100, 16)``, with ``(5,)`` for one axis."""
    return str(tuple(int(s) for s in shape))


def mixed_dtypes(
    op: str, first: str, first_dtype: object, other: str, other_dtype: object, fix: str
) -> ConvTypeError:
    """The one wording of a dtype mismatch between two arrays of one call, with the fix."""
    return ConvTypeError(
        f"{op}: {first} is {first_dtype} but {other} is {other_dtype}; they must share one dtype "
        f"(PyTorch refuses mixed dtypes too). {fix}"
    )
