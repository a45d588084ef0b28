"""Bots that play the scoring app's pages end to end over HTTP (oTree-style).

They work with any httpx client: the in-process ``TestClient`` or an
``httpx.Client`` on a live server at 127.0.0.1.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx

RESEARCHER, RESEARCHER_PASSWORD = "ada", "correct horse battery"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM = re.compile(r'name="form_token" value="([^"]+)"')
_ROW = re.compile(r'<tr><td[^>]*>([^<]+)</td><td class="label"[^>]*>[^<]*</td><td class="site"[^>]*>([^<]*)</td>'
                  r'<td[^>]*><a class="plink" href="([^"]+)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "page has no CSRF token"
    return html.unescape(found.group(1))


def form_token_of(page: str) -> str:
    found = _FORM.search(page)
    assert found, "page has no scoring form"
    return html.unescape(found.group(1))


class Researcher:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def login(self, username: str = RESEARCHER, password: str = RESEARCHER_PASSWORD) -> httpx.Response:
        page = self.client.get("/login").text
        return self.client.post("/login", data={"username": username, "password": password,
                                                "csrf_token": csrf_of(page)})

    def create_study(self, *, title: str = "Pilot", set_id: str = "training-12", deck_size: int = 3,
                     n_participants: int = 2, rounds: int = 2, seed: int = 1,
                     vignettes_file: str | Path | None = None, sites: str = "") -> int:
        """Fill in the create-study form; with ``vignettes_file``, upload that file instead
        of choosing a bundled set. ``sites`` is the form's text (``"Leeds, Bristol"``)."""
        r = self.post_study(title=title, set_id=set_id, deck_size=deck_size,
                            n_participants=n_participants, rounds=rounds, seed=seed,
                            vignettes_file=vignettes_file, sites=sites)
        assert r.status_code == 200, r.text
        match = re.search(r"/studies/(\d+)$", str(r.url))
        assert match, r.url
        return int(match.group(1))

    def post_study(self, *, title: str = "Pilot", set_id: str = "training-12", deck_size: int = 3,
                   n_participants: int = 2, rounds: int = 2, seed: int = 1,
                   vignettes_file: str | Path | None = None, sites: str = "") -> httpx.Response:
        """Send the create-study form and return the response (an error page when refused)."""
        page = self.client.get("/").text
        data = {"title": title, "set_id": set_id, "deck_size": str(deck_size),
                "n_participants": str(n_participants), "rounds": str(rounds), "seed": str(seed),
                "sites": sites, "csrf_token": csrf_of(page)}
        if vignettes_file is None:
            return self.client.post("/studies", data=data)
        path = Path(vignettes_file)
        files = {"vignettes_file": (path.name, path.read_bytes(), "application/octet-stream")}
        return self.client.post("/studies", data=data, files=files)

    def links(self, study_id: int, site: str | None = None) -> list[str]:
        """Issue links (for one site, when given) and return them."""
        return [link for _, _, link in self.issued_links(study_id, site)]

    def issued_links(self, study_id: int, site: str | None = None) -> list[tuple[str, str, str]]:
        """Issue links (for one site, when given): (rater id, site or "", link) each."""
        page = self.client.get(f"/studies/{study_id}").text
        data = {"csrf_token": csrf_of(page)} | ({"site": site} if site else {})
        r = self.client.post(f"/studies/{study_id}/links", data=data)
        assert r.status_code == 200, r.text
        rows = _ROW.findall(r.text)
        return [(html.unescape(rid), html.unescape(where), html.unescape(url))
                for rid, where, url in rows]

    def links_with_raters(self, study_id: int) -> dict[str, str]:
        """Link -> rater id, from the links page."""
        return {link: rid for rid, _, link in self.issued_links(study_id)}

    def move_to_site(self, study_id: int, number: int, site: str) -> httpx.Response:
        """Move participant ``number`` (1-based) of the study to ``site``."""
        page = self.client.get(f"/studies/{study_id}").text
        return self.client.post(f"/studies/{study_id}/site", data={
            "participant": str(number), "site": site, "csrf_token": csrf_of(page)})

    def close_round(self, study_id: int) -> httpx.Response:
        """Close the current round through its confirmation page."""
        page = self.client.get(f"/studies/{study_id}/close")
        if page.status_code != 200:
            return page
        return self.client.post(f"/studies/{study_id}/close",
                                data={"csrf_token": csrf_of(page.text)})

    def import_participants(self, study_id: int, data: str | bytes,
                            name: str = "people.csv") -> httpx.Response:
        """Upload a participants CSV in the study page's import form."""
        page = self.client.get(f"/studies/{study_id}").text
        body = data.encode("utf-8") if isinstance(data, str) else data
        return self.client.post(f"/studies/{study_id}/participants/import",
                                data={"csrf_token": csrf_of(page)},
                                files={"participants_file": (name, body, "text/csv")})

    def add_participants(self, study_id: int, count: int, site: str | None = None
                         ) -> httpx.Response:
        page = self.client.get(f"/studies/{study_id}").text
        return self.client.post(f"/studies/{study_id}/participants/add", data={
            "count": str(count), "csrf_token": csrf_of(page)} | ({"site": site} if site else {}))

    def links_csv(self, study_id: int, site: str | None = None) -> httpx.Response:
        """Create links (for one site) through the confirmation page, as a CSV file."""
        page = self.client.get(f"/studies/{study_id}/links",
                               params={"site": site} if site else {})
        assert page.status_code == 200, page.text
        return self.client.post(f"/studies/{study_id}/links", data={
            "csrf_token": csrf_of(page.text), "format": "csv"} | ({"site": site} if site else {}))

    def reissue_link(self, study_id: int, number: int) -> str:
        """Give participant ``number`` a new link through the confirmation page."""
        page = self.client.get(f"/studies/{study_id}/participants/{number}/reissue")
        assert page.status_code == 200, page.text
        r = self.client.post(f"/studies/{study_id}/participants/{number}/reissue",
                             data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 200, r.text
        rows = _ROW.findall(r.text)
        assert len(rows) == 1, r.text
        return html.unescape(rows[0][2])

    def monitoring(self, study_id: int, stalled_hours: str | None = None) -> httpx.Response:
        """The study page, with its monitoring tables (``?stalled_hours=``)."""
        return self.client.get(f"/studies/{study_id}", params={"stalled_hours": stalled_hours}
                               if stalled_hours is not None else {})

    def confirm_page(self, study_id: int, what: str) -> httpx.Response:
        """A confirmation page (``close``, ``links``, ``mail/invitations``,
        ``mail/reminders``, ``participants/N/reissue``): it changes nothing."""
        return self.client.get(f"/studies/{study_id}/{what}")

    def send_mail(self, study_id: int, what: str) -> httpx.Response:
        """Send the ``invitations`` or ``reminders`` through their confirmation page."""
        page = self.client.get(f"/studies/{study_id}/mail/{what}")
        if page.status_code != 200:
            return page
        return self.client.post(f"/studies/{study_id}/mail/{what}",
                                data={"csrf_token": csrf_of(page.text)})

    def retry_mail(self, study_id: int) -> httpx.Response:
        """Press "Send unsent e-mails again" on the study page."""
        page = self.client.get(f"/studies/{study_id}").text
        return self.client.post(f"/studies/{study_id}/mail/retry",
                                data={"csrf_token": csrf_of(page)})

    def mail_templates(self, study_id: int) -> dict[str, str]:
        """The e-mail templates form's fields (``KIND_subject``, ``KIND_body``), as shown."""
        page = self.client.get(f"/studies/{study_id}/mail/templates")
        assert page.status_code == 200, page.text
        fields = {html.unescape(k): html.unescape(v) for k, v in re.findall(
            r'<input[^>]*name="(\w+_subject)"[^>]*value="([^"]*)"', page.text)}
        fields |= {html.unescape(k): html.unescape(v) for k, v in re.findall(
            r'<textarea[^>]*name="(\w+_body)"[^>]*>(.*?)</textarea>', page.text, re.S)}
        return fields

    def save_templates(self, study_id: int, **changes: str) -> httpx.Response:
        """Save the e-mail templates as shown, with ``changes`` (``invitation_body=...``)."""
        page = self.client.get(f"/studies/{study_id}/mail/templates").text
        return self.client.post(f"/studies/{study_id}/mail/templates", data={
            **self.mail_templates(study_id), **changes, "csrf_token": csrf_of(page)})

    def set_deadline(self, study_id: int, closes_at: str, remind_hours: int | str = 24
                     ) -> httpx.Response:
        """Set (``closes_at`` ``YYYY-MM-DDTHH:MM``, UTC) or clear (``""``) the deadline of
        the open round."""
        page = self.client.get(f"/studies/{study_id}").text
        return self.client.post(f"/studies/{study_id}/deadline", data={
            "closes_at": closes_at, "remind_hours": str(remind_hours),
            "csrf_token": csrf_of(page)})

    def add_collaborator(self, study_id: int, username: str, role: str) -> httpx.Response:
        """As the owner, give ``username`` the ``role`` (viewer or editor) in the study."""
        page = self.client.get(f"/studies/{study_id}").text
        return self.client.post(f"/studies/{study_id}/collaborators", data={
            "username": username, "role": role, "csrf_token": csrf_of(page)})

    def remove_collaborator(self, study_id: int, researcher_id: int) -> httpx.Response:
        page = self.client.get(f"/studies/{study_id}").text
        return self.client.post(f"/studies/{study_id}/collaborators/remove", data={
            "researcher_id": str(researcher_id), "csrf_token": csrf_of(page)})

    def change_password(self, current: str, new: str) -> httpx.Response:
        page = self.client.get("/account").text
        return self.client.post("/account/password", data={
            "current_password": current, "new_password": new, "csrf_token": csrf_of(page)})

    def create_account(self, username: str, password: str, admin: bool = False) -> httpx.Response:
        """As an admin, create an account in the admin page."""
        page = self.client.get("/admin").text
        data = {"username": username, "password": password, "csrf_token": csrf_of(page)}
        return self.client.post("/admin/accounts", data=data | ({"is_admin": "yes"} if admin
                                                                 else {}))

    def set_disabled(self, researcher_id: int, disabled: bool) -> httpx.Response:
        """As an admin, disable or enable an account."""
        page = self.client.get("/admin").text
        action = "disable" if disabled else "enable"
        return self.client.post(f"/admin/accounts/{researcher_id}/{action}",
                                data={"csrf_token": csrf_of(page)})


def default_answer(position: int) -> dict[str, Any]:
    return {"need_level": str(1 + position % 4), "confidence": "70", "risk": str(position % 11),
            "salient_factors": ["domestic_abuse", "parental_mental_health"],
            "salient_other": "", "rationale": f"Because of case {position}.",
            "lead_agency": "social_care"}


class Practitioner:
    def __init__(self, client: httpx.Client, link: str) -> None:
        self.client = client
        self.link = link if link.startswith("/") else "/" + link.split("/", 3)[3]

    def consent(self, profession: str = "social_worker", years: int = 5) -> httpx.Response:
        page = self.client.get(self.link).text
        return self.client.post(self.link, data={"profession": profession,
                                                 "experience_years": str(years),
                                                 "consent": "yes", "csrf_token": csrf_of(page)})

    def page(self) -> httpx.Response:
        return self.client.get("/s")

    def case(self, position: int) -> httpx.Response:
        """Case ``position`` (1-based) of the open round, to answer or change."""
        return self.client.get(f"/s/case/{position}")

    def submit(self, page: str, answer: dict[str, Any]) -> httpx.Response:
        data = dict(answer)
        data["csrf_token"] = csrf_of(page)
        data["form_token"] = form_token_of(page)
        return self.client.post("/s/answer", data=data)

    def draft(self, page: str, fields: dict[str, Any]) -> httpx.Response:
        """Send ``fields`` of the case on ``page`` as its draft, as the page's script does."""
        data = dict(fields)
        data["csrf_token"] = csrf_of(page)
        data["form_token"] = form_token_of(page)
        return self.client.post("/s/draft", data=data)

    def review(self) -> httpx.Response:
        """The review page of the open round: every case with its level."""
        return self.client.get("/s/review")

    def leave(self) -> httpx.Response:
        """Press "Leave this device": the answers are kept and the link works again."""
        page = self.page().text
        return self.client.post("/s/leave", data={"csrf_token": csrf_of(page)})

    def carry_on(self, link: str | None = None) -> httpx.Response:
        """Follow ``link`` (by default this bot's) after leaving a device or after a
        new link, and press "Carry on here"."""
        if link is not None:
            self.link = link if link.startswith("/") else "/" + link.split("/", 3)[3]
        page = self.client.get(self.link)
        if page.status_code != 200 or "Carry on here" not in page.text:
            return page
        return self.client.post(self.link, data={"csrf_token": csrf_of(page.text)})

    def finish(self) -> httpx.Response:
        """Press "Submit my answers" on the review page of the open round."""
        page = self.client.get("/s/review").text
        found = re.search(r'name="round" value="(\d)"', page)
        assert found, "the review page has no submit button"
        return self.client.post("/s/submit", data={"csrf_token": csrf_of(page),
                                                   "round": found.group(1)})

    def play_round(self, answer_for=default_answer, limit: int = 100,  # type: ignore[no-untyped-def]
                   finish: bool = True) -> list[str]:
        """Answer every vignette left in the current round, then (with ``finish``) submit
        the answers on the review page; return the case pages' titles."""
        seen = []
        page = self.page().text
        for position in range(limit):
            if 'name="form_token"' not in page:
                break
            seen.append(re.search(r"<h1>(.*?)</h1>", page).group(1))  # type: ignore[union-attr]
            r = self.submit(page, answer_for(position))
            assert r.status_code == 200, r.text
            page = r.text
        if finish and 'action="/s/submit"' in page:
            r = self.finish()
            assert r.status_code == 200, r.text
        return seen


def ask_for_link(client: httpx.Client, address: str) -> httpx.Response:
    """Ask ``/link`` for one's personal link again, by e-mail address."""
    page = client.get("/link")
    assert page.status_code == 200, page.text
    return client.post("/link", data={"email": address, "csrf_token": csrf_of(page.text)})
