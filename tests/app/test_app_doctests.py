"""The runnable examples in dsk.app's docstrings (its submodules run in tests/test_doctests.py)."""

from __future__ import annotations

import doctest

import dsk.app


def test_docstring_examples() -> None:
    result = doctest.testmod(dsk.app, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in dsk.app"
    assert result.attempted > 0, "dsk.app has no runnable example"
