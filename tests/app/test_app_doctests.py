"""The runnable examples in dsk.app's docstrings."""

from __future__ import annotations

import doctest

import dsk.app


def test_docstring_examples() -> None:
    result = doctest.testmod(dsk.app, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
