"""Fixtures shared by the simulated-panel tests: the bundled professions and mixed panel."""

from __future__ import annotations

import pytest

from dsk.catalogue import Catalogue
from dsk.panels import PanelSpec, ProfessionProfile, load_panel, load_professions


@pytest.fixture(scope="module")
def professions(catalogue: Catalogue) -> dict[str, ProfessionProfile]:
    return load_professions(catalogue=catalogue)


@pytest.fixture(scope="module")
def mixed(professions: dict[str, ProfessionProfile]) -> PanelSpec:
    return load_panel("mixed-12", professions)
