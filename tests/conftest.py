"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

from dsk.catalogue import Catalogue, load_catalogue
from dsk.design import random_vignettes, stratified_vignettes


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def random_set(catalogue):
    return random_vignettes(400, random_state=11, catalogue=catalogue)


@pytest.fixture(scope="session")
def stratified_set(catalogue):
    return stratified_vignettes({"low": 30, "medium": 30, "high": 30}, random_state=5, catalogue=catalogue)


#: Debian's Chromium (``make test`` installs it), started the way this machine allows.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """A headless Chromium driven by Playwright (never Playwright's own browser download)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: `make test` installs Debian's chromium")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
