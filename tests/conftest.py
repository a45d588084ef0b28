"""Shared fixtures."""

from __future__ import annotations

import pytest

from dsk.catalogue import Catalogue, load_catalogue
from dsk.design import random_vignettes, stratified_vignettes


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def random_set(catalogue):
    return random_vignettes(400, seed=11, catalogue=catalogue)


@pytest.fixture(scope="session")
def stratified_set(catalogue):
    return stratified_vignettes({"low": 30, "medium": 30, "high": 30}, seed=5, catalogue=catalogue)
