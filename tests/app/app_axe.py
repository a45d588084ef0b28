"""axe-core (installed from npm by ``make test`` into ``tests/app/node_modules``) in the
browser tests: :func:`check` runs it on a Playwright page at phone and desktop widths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
#: A 390 x 844 phone screen (an iPhone 12-15's CSS viewport); 2.5 screens = 2,110 px.
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def need_axe() -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: `make test` installs axe-core with npm in tests/app")


def violations(page: Any) -> list[str]:
    """axe-core's violations on the page as it is: ``rule: element, ...`` each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(
        "async () => (await axe.run(document)).violations.map("
        "v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))")
    return found


def check(page: Any, state: str, checked: list[str], back_to: dict[str, int] = PHONE) -> None:
    """No axe-core violation on the page as it is, at phone and at desktop width; the
    viewport is then set to ``back_to``, and ``state`` appended to ``checked``."""
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        found = violations(page)
        assert found == [], f"{state} at {size['width']} px: {found}"
    page.set_viewport_size(back_to)
    checked.append(state)
