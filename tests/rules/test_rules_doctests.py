"""The examples in the rule engine's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["dsk.rules", "dsk.rules.language", "dsk.rules.ruleset", "dsk.rules.margins",
           "dsk.rules.vector", "dsk.rules.durable", "dsk.rules.lint", "dsk.rules.sklearn",
           "dsk.rules._errors"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    from dsk.rules import bundled_rulesets

    # examples use paths relative to the repository root
    monkeypatch.chdir(next(iter(bundled_rulesets().values())).parents[2])
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
