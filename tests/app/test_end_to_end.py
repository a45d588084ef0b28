"""A real study end to end, as a researcher would run it.

1. Generate a 48-vignette D-efficient set with its own ``set_id``.
2. Create a scoring-app study from that file, in 4 decks of 12, across 2 sites.
3. 24 practitioners score it over HTTP against a live server on 127.0.0.1; one of them in
   Debian's Chromium, the others as bots.
4. Export the study, as a colleague the owner made a viewer of it; another researcher on
   the same server does not see it.
5. Run an experiment that reads the app's database.
6. The report renders with no "nan" and no "simulated", and the tables carry deck, position and
   site.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from app_bots import Practitioner, Researcher

from dsk.app import create_researcher
from dsk.app._live import LiveServer
from dsk.catalogue import load_catalogue
from dsk.design import generate
from dsk.experiment import load_config, run_experiment
from dsk.io import read_table, write_table

SET_ID = "two-site-study"
DIMENSIONS = ["domestic_abuse", "parental_mental_health", "parental_substance_misuse",
              "school_attendance", "age_band"]
PROFESSIONS = ["social_worker", "teacher", "health_visitor", "police", "paediatrician", "gp"]


def _answers(seed: int) -> Any:
    """Answers of one bot: a need level drawn per case, the other fields filled."""
    rng = np.random.default_rng(seed)

    def answer(position: int) -> dict[str, Any]:
        level = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.35, 0.3, 0.2]))
        return {"need_level": str(level), "confidence": str(50 + 5 * (position % 8)),
                "risk": str(min(10, 2 * level + position % 3)),
                "salient_factors": ["domestic_abuse"] if level >= 3 else ["school_attendance"],
                "salient_other": "", "rationale": f"Level {level}: the pattern of concerns.",
                "lead_agency": "social_care" if level >= 3 else "school"}

    return answer


def _score_in_chromium(browser: Any, link: str) -> int:
    """One practitioner scores their whole deck in Chromium; returns the cases scored."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto(link)
    page.get_by_label("Your profession", exact=True).select_option("health_visitor")
    page.get_by_label("Years of experience in your profession", exact=True).fill("9")
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    scored = 0
    for _ in range(12):  # one deck; a refused answer would show the same case again
        heading = page.locator("h1").inner_text()
        errors = page.locator("#errors")
        assert heading == f"Case {scored + 1} of 12", (heading, errors.inner_text()
                                                       if errors.count() else "")
        level = 1 + scored % 4
        page.get_by_role("radio", name=re.compile(rf"^{level} ")).check()
        page.get_by_label("How confident are you").fill("60")
        page.get_by_label("Risk of significant harm").select_option(str(level + 2))
        page.get_by_label("Why this level?").fill("Seen on a phone.")
        page.get_by_label("Which agency should lead?").select_option(label="Children's social care")
        page.get_by_role("button", name="Save and continue").click()
        scored += 1
    page.get_by_role("button", name="Submit my answers").click()  # on the review page
    assert page.locator("h1").inner_text() == "All done"  # a one-round study
    ctx.close()
    return scored


def test_a_real_study_end_to_end(browser: Any, tmp_path: Path) -> None:
    catalogue = load_catalogue()
    # 1. the researcher's own D-efficient set
    vignettes = generate("d-efficient", 48, 11, catalogue, set_id=SET_ID, dimensions=DIMENSIONS)
    assert set(vignettes["set_id"]) == {SET_ID} and len(vignettes) == 48
    vignette_file = write_table(vignettes, tmp_path / "study-vignettes.jsonl")
    db = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    create_researcher(db, "ada", "correct horse battery")
    create_researcher(db, "grace", "grace's own password")
    create_researcher(db, "otto", "otto's own password")

    with LiveServer(db, log=tmp_path / "server.log") as server:
        researcher = Researcher(httpx.Client(base_url=server.url, follow_redirects=True, timeout=60))
        assert researcher.login().status_code == 200
        # 2. the study from the file: 4 decks of 12, 24 practitioners, 2 sites
        study = researcher.create_study(title="Two-site pilot", vignettes_file=vignette_file,
                                        deck_size=12, n_participants=24, rounds=1,
                                        sites="Leeds, Bristol")
        links = researcher.issued_links(study)
        assert len(links) == 24
        assert {site for _, site, _ in links} == {"Leeds", "Bristol"}

        # 3. one practitioner in Chromium, 23 bots over HTTP
        _, _, browser_link = links[0]
        assert _score_in_chromium(browser, browser_link) == 12
        professions = itertools.cycle(PROFESSIONS)
        for k, (_, _, link) in enumerate(links[1:], start=1):
            with httpx.Client(base_url=server.url, follow_redirects=True, timeout=60) as client:
                bot = Practitioner(client, link)
                assert bot.consent(profession=next(professions), years=2 + k % 20).status_code == 200
                assert len(bot.play_round(_answers(k))) == 12

        # 4. the export, by a viewer; a researcher without a role does not see the study
        assert researcher.add_collaborator(study, "grace", "viewer").status_code == 200
        viewer = Researcher(httpx.Client(base_url=server.url, follow_redirects=True, timeout=60))
        assert viewer.login("grace", "grace's own password").status_code == 200
        r = viewer.client.get(f"/studies/{study}/judgements.csv")
        assert r.status_code == 200, r.text
        assert r.content == researcher.client.get(f"/studies/{study}/judgements.csv").content
        (tmp_path / "export.csv").write_bytes(r.content)
        other = Researcher(httpx.Client(base_url=server.url, follow_redirects=True, timeout=60))
        assert other.login("otto", "otto's own password").status_code == 200
        assert other.client.get(f"/studies/{study}/judgements.csv").status_code == 404
        assert "Two-site pilot" not in other.client.get("/").text
    export = read_table(tmp_path / "export.csv", "judgements")
    assert len(export) == 24 * 12
    assert set(export["vignette_id"]) == set(vignettes["vignette_id"])  # the file's ids, kept
    positions = export.groupby("rater_id")["position"].apply(lambda p: tuple(sorted(p)))
    assert set(positions) == {tuple(range(1, 13))}
    assert sorted(export["deck_id"].unique()) == ["deck-1", "deck-2", "deck-3", "deck-4"]
    assert set(export["site"]) == {"Leeds", "Bristol"}
    assert export.groupby("site")["rater_id"].nunique().to_dict() == {"Bristol": 12, "Leeds": 12}

    # 5. an experiment reading the app's database
    config = tmp_path / "study.yaml"
    config.write_text(f"""\
id: two-site-pilot
title: Two-site pilot
seed: 5
vignettes: {{file: study-vignettes.jsonl}}
rulesets: [threshold-of-need, count-of-concerns]
panels:
  - {{database: "{db}", study: {study}}}
rounds: 1
bootstrap: 50
output: run
""", encoding="utf-8")
    result = run_experiment(load_config(config), tmp_path / "run", config_path=config)

    # 6. the tables and the report
    judgements = result.tables["judgements"]
    people = judgements[judgements["rater_kind"] == "human"]
    assert len(people) == 24 * 12
    assert people[["deck_id", "position", "site"]].notna().all().all()
    assert set(result.tables["vignettes"]["vignette_id"]) == set(vignettes["vignette_id"])
    saved = pd.read_parquet(tmp_path / "run" / "judgements.parquet")
    assert {"deck_id", "position", "site"} <= set(saved.columns)
    html = result.report.read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE), \
        re.search(r".{60}\bnan\b.{60}", text, flags=re.IGNORECASE | re.S)
    assert "simulated" not in text.lower(), \
        re.search(r".{80}simulated.{80}", text, flags=re.IGNORECASE | re.S)
    assert "Leeds" in text and "Bristol" in text  # the methods section names the sites
