"""Links and cookies: the public URL, secure cookies and HSTS, the Origin check, leaving a device.

Participant links come from ``public_url`` (``dsk serve --public-url``), never from the
Host header; with ``secure_cookies`` every cookie is ``Secure`` and ``__Host-``-prefixed
and HSTS is sent; a POST whose Origin (or Referer) is another site is refused (403); and
"Leave this device" ends a browser's study session while keeping the answers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from app_bots import RESEARCHER, Practitioner, Researcher, csrf_of, default_answer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dsk.app import create_app, create_researcher
from dsk.cli import app as dsk_cli

PUBLIC = "https://study.example.org"


def test_links_come_from_the_public_url_not_the_host_header(make_client) -> None:  # type: ignore[no-untyped-def]
    for options, base in (({"public_url": PUBLIC + "/"}, PUBLIC),
                          ({}, "http://127.0.0.1:8000")):  # the default: dsk serve's address
        bot = Researcher(make_client(**options))
        bot.login()
        study = bot.create_study(n_participants=2)
        page = bot.client.get(f"/studies/{study}").text
        forged = bot.client.post(f"/studies/{study}/links", data={"csrf_token": csrf_of(page)},
                                 headers={"Host": "attacker.example"})
        assert forged.status_code == 200
        links = re.findall(r'class="plink" href="([^"]+)"', forged.text)
        assert len(links) == 2
        assert all(re.fullmatch(re.escape(base) + r"/p/[A-Za-z0-9_-]{20,}", x) for x in links)
        assert "attacker.example" not in forged.text
        assert all(link.startswith(base + "/p/") for link in bot.links(study))


@pytest.mark.parametrize("url", ["study.example.org", "ftp://study.example.org",
                                 "https://study.example.org/app", "https://x:99999"])
def test_a_bad_public_url_is_refused(sqlite_url: str, url: str) -> None:
    with pytest.raises(ValueError, match=r"^public_url: expected http://HOST\[:PORT\]"):
        create_app(sqlite_url, public_url=url)


def _set_cookies(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Set-Cookie headers of ``response`` by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_secure_cookies_and_hsts(sqlite_url: str) -> None:
    create_researcher(sqlite_url, RESEARCHER, "correct horse battery")
    app = create_app(sqlite_url, public_url=PUBLIC, secure_cookies=True)
    with TestClient(app, base_url=PUBLIC, follow_redirects=False) as client:
        page = client.get("/login")
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        csrf_cookie = _set_cookies(page)["__Host-dsk_csrf"]
        assert "; Secure" in csrf_cookie and "Path=/" in csrf_cookie
        assert "domain" not in csrf_cookie.lower()
        login = client.post("/login", data={"username": RESEARCHER,
                                            "password": "correct horse battery",
                                            "csrf_token": csrf_of(page.text)},
                            headers={"Origin": PUBLIC})
        assert login.status_code == 303, login.text
        session = _set_cookies(login)["__Host-dsk_r"]
        assert all(part in session for part in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"))
        assert client.get("/").status_code == 200  # the prefixed cookies work
        client.follow_redirects = True
        bot = Researcher(client)
        link = bot.links(bot.create_study(n_participants=1))[0]
        assert link.startswith(PUBLIC + "/p/")
        client.follow_redirects = False
        p = Practitioner(client, link)
        claimed = p.consent()
        assert claimed.status_code == 303
        assert "Secure" in _set_cookies(claimed)["__Host-dsk_p"]
        assert "dsk_p" in {c.name[len("__Host-"):] for c in client.cookies.jar}
        assert client.get("/s").status_code == 200
        assert client.get("/healthz").headers["strict-transport-security"] == "max-age=31536000"
    app.state.core.engine.dispose()
    # without it: plain names, no Secure, no HSTS
    plain = create_app(sqlite_url)
    with TestClient(plain, base_url="http://127.0.0.1") as client:
        page = client.get("/login")
        assert "strict-transport-security" not in page.headers
        assert "Secure" not in _set_cookies(page)["dsk_csrf"]
    plain.state.core.engine.dispose()
    with pytest.raises(ValueError, match="secure cookies need an https:// public URL"):
        create_app(sqlite_url, public_url="http://study.example.org", secure_cookies=True)


def test_serve_refuses_secure_cookies_without_an_https_url(tmp_path: Path) -> None:
    runner = CliRunner()
    db = "sqlite:///" + str(tmp_path / "app.sqlite3")
    alone = runner.invoke(dsk_cli, ["serve", "--db", db, "--secure-cookies"])
    assert (alone.exit_code, alone.output.strip()) == (
        1, "error: public_url: --secure-cookies needs --public-url https://HOST[:PORT]")
    bad = runner.invoke(dsk_cli, ["serve", "--db", db, "--public-url", "study.example.org"])
    assert bad.exit_code == 1
    assert "public_url: expected http://HOST[:PORT]" in bad.output


def test_posts_from_another_origin_are_refused(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(public_url=PUBLIC)
    token = csrf_of(client.get("/login").text)
    form = {"username": RESEARCHER, "password": "wrong password", "csrf_token": token}
    refused = [{"Origin": "https://attacker.example"},
               {"Origin": "null"},  # a sandboxed or privacy-hidden origin
               {"Origin": "http://study.example.org"},  # same host, other scheme
               {"Origin": PUBLIC + ":8443"},  # other port
               {"Referer": "https://attacker.example/page.html"},
               {"Referer": "not a url"}]
    for headers in refused:
        r = client.post("/login", data=form, headers=headers)
        assert r.status_code == 403, headers
        assert "this form was sent from" in r.text and f"not from this site ({PUBLIC})" in r.text
        assert "wrong user name or password" not in r.text  # refused before the handler ran
    # the Origin decides even when the Referer matches
    r = client.post("/login", data=form, headers={"Origin": "https://attacker.example",
                                                   "Referer": PUBLIC + "/login"})
    assert r.status_code == 403
    accepted = [{"Origin": PUBLIC}, {"Origin": "https://STUDY.example.org:443"},
                {"Referer": PUBLIC + "/login?x=1"}, {}]  # no header: no browser's form
    for headers in accepted:
        r = client.post("/login", data=form, headers=headers)
        assert r.status_code == 401, headers
        assert "wrong user name or password" in r.text


def test_a_forged_origin_cannot_post_a_practitioner_answer(make_client, researcher: Researcher  # type: ignore[no-untyped-def]
                                                            ) -> None:
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(make_client(), researcher.links(study)[0])
    bot.consent()
    page = bot.page().text
    data = default_answer(0) | {"csrf_token": csrf_of(page)}
    data["form_token"] = re.search(r'name="form_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = bot.client.post("/s/answer", data=data, headers={"Origin": "https://attacker.example"})
    assert r.status_code == 403
    assert researcher.client.get(f"/studies/{study}/judgements.csv").text.count("\n") == 1


def test_leave_this_device(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    study = researcher.create_study(deck_size=3, n_participants=1, rounds=1)
    link = researcher.links(study)[0]
    first = Practitioner(make_client(), link)
    first.consent(profession="social_worker", years=7)
    page = first.page().text
    assert 'action="/s/leave"' in page and "Leave this device" in page
    first.submit(page, default_answer(0))
    assert 'action="/s/leave"' not in researcher.client.get(f"/studies/{study}").text
    old_session = first.client.cookies["dsk_p"]
    # CSRF-protected like every form
    assert first.client.post("/s/leave", data={}).status_code == 403
    left = first.client.post("/s/leave", data={"csrf_token": csrf_of(first.page().text)},
                             follow_redirects=False)
    assert (left.status_code, left.headers["location"]) == (303, "/s/left")
    assert 'dsk_p=""' in left.headers["set-cookie"] and "Max-Age=0" in left.headers["set-cookie"]
    left = first.client.get("/s/left")
    assert "You have left this device" in left.text
    assert "answers so far are kept" in left.text and "it works again" in left.text
    assert 'action="/s/leave"' not in left.text
    assert "dsk_p" not in first.client.cookies
    assert first.page().status_code == 401
    # a copy of the old cookie no longer works either
    first.client.cookies.set("dsk_p", old_session)
    assert first.page().status_code == 401
    # the link works again, once, without asking for consent details again
    second = Practitioner(make_client(), link)
    resume = second.client.get(link)
    assert resume.status_code == 200 and "Carry on here" in resume.text
    assert 'name="profession"' not in resume.text
    carried = second.client.post(second.link, data={"csrf_token": csrf_of(resume.text)})
    assert carried.status_code == 200
    assert "Case 2 of 3" in carried.text, carried.text[:600]
    assert second.play_round() and "All done" in second.page().text
    assert make_client().get(link).status_code == 410  # in use in the second browser again
    table = researcher.client.get(f"/studies/{study}/judgements.csv").text
    assert table.count("\n") == 4  # header + three answers, the first kept
    assert table.count("social_worker") == 3 and table.count(",7.0,") == 3


def test_the_same_consent_form_sent_again_finds_its_session(make_client,  # type: ignore[no-untyped-def]
                                                            researcher: Researcher) -> None:
    """A consent whose answer was lost (a worker killed after the commit, say) can be sent
    again from the same page: it gets the session it made, not "link already used". A
    consent form of another page (another browser) still finds the link used."""
    study = researcher.create_study(n_participants=1, deck_size=2)
    link = researcher.links(study)[0]
    client = make_client()
    page = client.get(link).text
    nonce = re.search(r'name="consent_nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"profession": "social_worker", "experience_years": "5", "consent": "yes",
            "csrf_token": csrf_of(page), "consent_nonce": nonce}
    first = client.post(link, data=form, follow_redirects=False)
    cookie = first.cookies["dsk_p"]
    client.cookies.delete("dsk_p")  # as if the answer, and its cookie, never arrived
    again = client.post(link, data=form, follow_redirects=False)
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.cookies["dsk_p"] == cookie
    assert 'name="form_token"' in client.get("/s").text  # and carries on
    other = make_client()
    other_page = other.get(link)
    assert other_page.status_code == 410
    assert other.post(link, data=dict(form, csrf_token=csrf_of(other.get("/login").text),
                                      consent_nonce="B" * 32)).status_code == 410
