"""Run the report modules' docstring examples."""

from __future__ import annotations

import doctest

import pytest

import dsk.report._context
import dsk.report._numbers
import dsk.report._sources


@pytest.mark.parametrize("module", [dsk.report._numbers, dsk.report._context, dsk.report._sources])
def test_docstring_examples(module) -> None:  # type: ignore[no-untyped-def]
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
