"""The examples in the package's docstrings run and show what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dsk

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(dsk.__path__, "dsk.")
    if not m.name.startswith("dsk.app")  # the app's doctests run in tests/app
    and not m.name.endswith("__main__")
)


#: Modules whose public entry points carry runnable examples (STYLE.md habit 10).
DOCUMENTED = {"dsk.catalogue", "dsk.design", "dsk.schema", "dsk.complexity", "dsk.narrative", "dsk.sets",
              "dsk.panels.simulate", "dsk.rules", "dsk.report"}


def test_modules_are_found():
    assert {"dsk.catalogue", "dsk.design", "dsk.schema", "dsk.panels.simulate"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name in DOCUMENTED:
        assert result.attempted > 0, f"{name} has no runnable example"
