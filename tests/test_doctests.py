"""Every public module of dsk carries runnable examples, and they all pass.

A public module is one with no path component starting with ``_``. ``dsk.app``
itself runs in tests/app/test_app_doctests.py (beside the app's other tests);
its public submodules, such as ``dsk.app.cli``, run here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dsk

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

PUBLIC = sorted(
    ["dsk"] + [m.name for m in pkgutil.walk_packages(dsk.__path__, "dsk.")
               if not any(part.startswith("_") for part in m.name.split("."))]
)

#: Run by tests/app/test_app_doctests.py instead.
ELSEWHERE = {"dsk.app"}

#: Public modules allowed to have no example, each with the reason it cannot have one.
EXEMPT: dict[str, str] = {}

MODULES = [name for name in PUBLIC if name not in ELSEWHERE]


def test_public_modules_are_found() -> None:
    found = set(PUBLIC)
    assert {"dsk", "dsk.catalogue", "dsk.panels", "dsk.panels.cli", "dsk.rules.cli",
            "dsk.app.cli"} <= found
    assert not {"dsk._doe", "dsk.report._context", "dsk.app._web", "dsk.app.__main__"} & found


def test_exemptions_name_public_modules() -> None:
    assert set(EXEMPT) | ELSEWHERE <= set(PUBLIC)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=OPTIONS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name not in EXEMPT:
        assert result.attempted > 0, f"{name} has no runnable example"
