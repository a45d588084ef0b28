"""The app's routers are module-level; each app's handlers get that app's own state."""

from __future__ import annotations

from pathlib import Path

from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Researcher
from fastapi.testclient import TestClient

from dsk.app import create_app, create_researcher


def test_two_apps_in_one_process_keep_their_own_state(tmp_path: Path) -> None:
    """Only the first database has the researcher: the second app must refuse the log-in."""
    first, second = f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
    create_researcher(first, RESEARCHER, RESEARCHER_PASSWORD)
    app_a, app_b = create_app(first), create_app(second)
    assert app_a.state.core is not app_b.state.core
    with TestClient(app_a, base_url="http://127.0.0.1") as a, \
            TestClient(app_b, base_url="http://127.0.0.1") as b:
        signed_in = Researcher(a).login()
        assert signed_in.status_code == 200 and str(signed_in.url).endswith("/")
        refused = Researcher(b).login()
        assert refused.status_code == 401 and "wrong user name or password" in refused.text
        # The first app's session cookie means nothing to the second app.
        b.cookies.update(a.cookies)
        assert str(b.get("/").url).endswith("/login")
