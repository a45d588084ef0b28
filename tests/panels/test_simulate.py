"""Simulated practitioner panels: calibration, mechanisms, determinism, files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dsk.catalogue import Catalogue, load_catalogue
from dsk.cli import app
from dsk.design import generate, vignettes_from_specs
from dsk.io import read_table, write_table
from dsk.panels import (
    PanelError,
    PanelSpec,
    ProfessionProfile,
    load_panel,
    load_professions,
    simulate_panel,
)
from dsk.panels.calibrate import ordinal_alpha
from dsk.panels.profiles import panels_dir
from dsk.sets import load_set


@pytest.fixture(scope="module")
def simulate(professions: dict[str, ProfessionProfile], catalogue: Catalogue) -> Callable[..., pd.DataFrame]:
    """``simulate_panel`` with the bundled professions and catalogue."""
    def run(vignettes: pd.DataFrame, panel: PanelSpec, **options: Any) -> pd.DataFrame:
        options.setdefault("professions", professions)
        return simulate_panel(vignettes, panel, catalogue=catalogue, **options)
    return run


@pytest.fixture(scope="module")
def study(catalogue):
    return generate("stratified", 300, 1, catalogue, narratives=False)


@pytest.fixture(scope="module")
def judged(study, mixed, simulate):
    return simulate(study, mixed, random_state=1, rounds=2, rationale=False)


def test_the_judgements_table(judged, study, mixed, catalogue):
    assert len(judged) == 300 * 12 * 2
    assert set(judged["round"]) == {1, 2}
    assert judged["need_level"].between(1, 4).all()
    assert judged["confidence"].between(0, 1).all() and judged["risk"].between(0, 10).all()
    assert (judged["seconds"] > 0).all()
    levels = study.set_index("vignette_id")[list(catalogue.factor_ids)]
    for row in judged.sample(500, random_state=0).itertuples():
        present = {f for f in catalogue.factor_ids if levels.at[row.vignette_id, f] > 0}
        assert set(row.salient_factors) <= present
    four = judged[judged["need_level"] == 4]
    assert (four["lead_agency"] == "social_care").all()
    # risk follows need
    assert judged.groupby("need_level")["risk"].mean().is_monotonic_increasing


def test_same_seed_same_bytes(tmp_path, mixed, simulate, catalogue):
    core = load_set("core-60", catalogue)
    a = write_table(simulate(core, mixed, random_state=4, rounds=2), tmp_path / "a.parquet").read_bytes()
    b = write_table(simulate(core, mixed, random_state=4, rounds=2), tmp_path / "b.parquet").read_bytes()
    c = write_table(simulate(core, mixed, random_state=5, rounds=2), tmp_path / "c.parquet").read_bytes()
    assert a == b and a != c


def test_deliberation_moves_towards_the_median_and_raises_agreement(judged):
    r1 = judged[judged["round"] == 1].set_index(["vignette_id", "rater_id"])
    r2 = judged[judged["round"] == 2].set_index(["vignette_id", "rater_id"])
    median = r1.groupby(level="vignette_id")["need_level"].median()
    before = r1["need_level"]
    after = r2.loc[before.index, "need_level"]
    med = before.index.get_level_values("vignette_id").map(median).to_numpy()
    moved = (after != before).to_numpy()
    assert 0.05 < moved.mean() < 0.6
    # every change is one step, towards the round-1 median
    assert (np.abs(after - before)[moved] == 1).all()
    assert (np.abs(after.to_numpy() - med) <= np.abs(before.to_numpy() - med)).all()
    assert ordinal_alpha(judged[judged["round"] == 2]) > ordinal_alpha(judged[judged["round"] == 1])


def _mean_level(vignettes, professions, **changes):
    profs = {k: p.model_copy(update=changes) for k, p in professions.items()}
    panel = load_panel("mixed-12", profs)
    return simulate_panel(vignettes, panel, random_state=2, professions=profs, catalogue=load_catalogue(),
                          rationale=False)["need_level"].mean()


def test_thresholds_move_levels(study, professions):
    assert _mean_level(study, professions, threshold_shift=0.5) < _mean_level(study, professions) \
        < _mean_level(study, professions, threshold_shift=-0.5)


def test_amplification_raises_toxic_trio_cases(professions, catalogue):
    trio = [{"id": f"t{i}", "age_band": "infant",
             "factors": {"parental_mental_health": 1, "parental_substance_misuse": 1, "domestic_abuse": 1}}
            for i in range(20)]
    vig = vignettes_from_specs(trio, "trio", random_state=1, catalogue=catalogue, narratives=False)
    assert _mean_level(vig, professions, amplification=1.5) > \
        _mean_level(vig, professions, amplification=0.0) + 0.3


def test_trajectory_raises_turbulent_cases_only(professions, study):
    turbulent = study[study["cx_turbulence"] > 0.5]
    still = study[study["cx_turbulence"] == 0]
    gain_turbulent = _mean_level(turbulent, professions, trajectory=1.5) - _mean_level(
        turbulent, professions, trajectory=0.0)
    gain_still = _mean_level(still, professions, trajectory=1.5) - _mean_level(still, professions, trajectory=0.0)
    assert gain_turbulent > 0.1 and gain_still == 0


def test_anchoring_weighs_vivid_factors(professions, catalogue):
    # a targeted-level concern reported first, beside a vivid one (a risk of FGM is level 4 anyway,
    # so the vivid factor's weight is capped): anchoring changes nothing about the level here, but
    # on a vivid concern below the top of the scale it raises it
    vivid = [{"id": f"v{i}", "age_band": "secondary", "factors": {"self_harm": 1}} for i in range(40)]
    vig = vignettes_from_specs(vivid, "vivid", random_state=1, catalogue=catalogue, narratives=False)
    assert _mean_level(vig, professions, anchoring=1.0) > _mean_level(vig, professions, anchoring=0.0) + 0.2


def test_protective_factors_lower_need(professions, catalogue):
    base = {"parental_mental_health": 2, "financial_hardship": 1}
    plain = [{"id": f"p{i}", "age_band": "primary", "factors": base} for i in range(30)]
    strong = [{"id": f"s{i}", "age_band": "primary",
               "factors": {**base, "extended_family_support": 1, "engages_with_services": 1}} for i in range(30)]
    a = vignettes_from_specs(plain, "a", random_state=1, catalogue=catalogue, narratives=False)
    b = vignettes_from_specs(strong, "b", random_state=1, catalogue=catalogue, narratives=False)
    assert _mean_level(b, professions) < _mean_level(a, professions)


def test_corroboration_lowers_disengagement_only_when_it_stands_alone(professions, catalogue):
    alone = [{"id": f"a{i}", "age_band": "preschool", "factors": {"non_compliance": 2}} for i in range(30)]
    harm = [{"id": f"h{i}", "age_band": "preschool", "factors": {"non_compliance": 2, "hygiene": 2}}
            for i in range(30)]
    a = vignettes_from_specs(alone, "a", random_state=1, catalogue=catalogue, narratives=False)
    h = vignettes_from_specs(harm, "h", random_state=1, catalogue=catalogue, narratives=False)
    assert _mean_level(a, professions, corroboration=0.5) < _mean_level(a, professions, corroboration=0.0)
    # with a concern about the child's care beside it, disengagement keeps its usual level
    assert _mean_level(h, professions, corroboration=0.5) == _mean_level(h, professions, corroboration=0.0)


def test_noise_has_the_same_spread_at_every_complexity(professions, catalogue):
    # one case with every mechanism but noise switched off: the spread of the appraisal is the
    # noise alone, the same for a simple and a complex vignette (no study shows noise growing
    # with complexity, so the model does not assume it)
    from dsk.panels.mechanisms import MECHANISMS
    from dsk.panels.simulate import case_features, draw_raters, neutral_profiles, simulate_round

    off = [m.id for m in MECHANISMS if m.id != "noise"]
    profs = neutral_profiles(professions, off)
    simple = {"id": "s", "age_band": "primary", "factors": {"financial_hardship": 1}}
    complex_ = {"id": "c", "age_band": "infant",
                "factors": {"parental_mental_health": 1, "parental_substance_misuse": 1, "domestic_abuse": 1,
                            "frequent_moves": 2, "new_partner": 1}}
    vig = vignettes_from_specs([simple, complex_], "two", random_state=1, catalogue=catalogue, narratives=False)
    assert vig.set_index("vignette_id").loc["c", "complexity"] > vig.set_index("vignette_id").loc["s", "complexity"]
    panel = PanelSpec(id="many", members=[{"profession": "social_worker", "count": 400}])
    rng = np.random.default_rng(5)
    features = case_features(vig, profs, catalogue)
    result = simulate_round(features, draw_raters(panel, profs, catalogue, rng), profs, catalogue, rng)
    spread = result.latent.std(axis=1)
    assert spread[0] == pytest.approx(spread[1], rel=0.15)
    assert spread[0] == pytest.approx(professions["social_worker"].noise * (1 - 0.015 * 5), rel=0.15)


def test_switching_a_mechanism_off_keeps_the_draws(study, mixed, simulate):
    full = simulate(study, mixed, random_state=4, rationale=False)
    # a set without protective factors: switching protective off changes nothing, draw for draw
    plain = study[study[["extended_family_support", "engages_with_services", "trusted_adult",
                         "positive_parenting"]].sum(axis=1) == 0]
    a = simulate(plain, mixed, random_state=4, rationale=False)
    b = simulate(plain, mixed, random_state=4, rationale=False, off=["protective"])
    pd.testing.assert_frame_equal(a, b)
    # and on the whole set it lowers no level and raises some
    c = simulate(study, mixed, random_state=4, rationale=False, off=["protective"])
    assert (c["need_level"].to_numpy() >= full["need_level"].to_numpy()).all()
    assert (c["need_level"].to_numpy() > full["need_level"].to_numpy()).any()
    with pytest.raises(ValueError, match="unknown mechanism 'noisy'; mechanisms are amplification"):
        simulate(study, mixed, off=["noisy"])


def test_every_mechanism_off_leaves_the_item_reading(catalogue, professions, simulate, mixed):
    from dsk.panels.mechanisms import MECHANISMS

    training = load_set("training-12", catalogue)
    j = simulate(training, mixed, random_state=1, rationale=False, off=[m.id for m in MECHANISMS])
    # no noise, no individual or professional differences: every rater gives the same level,
    # the most serious concern's usual level raised by the accumulation of the rest
    assert (j.groupby("vignette_id")["need_level"].nunique() == 1).all()
    level = j.groupby("vignette_id")["need_level"].first()
    assert level["tame-01-disclosure"] == 4 and level["tame-02-universal"] == 1
    assert level["wicked-07-count-cliff"] == 2  # five targeted needs: 1 + 1 + 0.15 * log(5) = 2.24


def test_removed_parameters_are_named(tmp_path, catalogue):
    path = tmp_path / "professions.yaml"
    path.write_text("professions:\n  - id: x\n    label: X\n    agency: school\n    noise_growth: 1\n"
                    "    refer_on: 0.2\n")
    with pytest.raises(PanelError, match="'noise_growth' is no longer a parameter: noise no longer grows"):
        load_professions(path, catalogue)


def test_anchoring_pulls_salience_to_the_first_report(professions, study, simulate):
    def first_cited(**changes):
        profs = {k: p.model_copy(update=changes) for k, p in professions.items()}
        j = simulate(study, load_panel("mixed-12", profs), random_state=3, professions=profs, rationale=False)
        first = {r.vignette_id: next((x["factor"] for x in r.reports if x["order"] == 1), None)
                 for r in study.itertuples()}
        top = j["salient_factors"].map(lambda s: s[0] if len(s) else None)
        return (top.to_numpy() == j["vignette_id"].map(first).to_numpy()).mean()

    assert first_cited(anchoring=1.5) > first_cited(anchoring=0.0) + 0.05


def test_rationales_speak_of_the_salient_factors(mixed, catalogue, simulate):
    j = simulate(load_set("training-12", catalogue), mixed, random_state=1, rounds=2)
    labels = {f.id: f.label.replace(" (protective)", "").lower() for f in catalogue.factors}
    for row in j.itertuples():
        assert row.rationale and row.rationale[0].isupper()
        concerns = [f for f in row.salient_factors if not catalogue.factor(f).protective]
        if concerns:
            assert labels[concerns[0]] in row.rationale.lower()
    r2 = j[j["round"] == 2]
    assert r2["rationale"].str.contains("colleagues' views").all()
    assert j["rationale"].nunique() > len(j) * 0.5


def test_panel_file_errors_name_file_line_and_key(tmp_path, professions):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nseed: 1\nmembers:\n  - {profession: social_workr, experience: 3}\n")
    with pytest.raises(PanelError, match=r"bad\.yaml, line 4, key members\.0\.profession: unknown profession "
                                         r"'social_workr'; did you mean social_worker"):
        load_panel(bad, professions)
    bad.write_text("id: x\nseed: 1\nmembers:\n  - {profession: police, experience: -3}\n")
    with pytest.raises(PanelError, match=r"key members\.0\.experience: .*greater than or equal to 0"):
        load_panel(bad, professions)
    with pytest.raises(PanelError, match="no such panel file"):
        load_panel(tmp_path / "missing.yaml", professions)
    profs = tmp_path / "professions.yaml"
    profs.write_text("professions:\n  - id: a\n    label: A\n    agency: school\n    lens: {child_dev: 1}\n")
    with pytest.raises(PanelError, match=r"professions.yaml, line \d+, key professions\.0\.lens: .*unknown domains"):
        load_professions(profs)


def test_bundled_panels_load(professions):
    assert set(professions) >= {"social_worker", "teacher", "health_visitor", "police", "paediatrician",
                                "gp", "early_years"}
    assert len(load_panel("mixed-12", professions).raters()) == 12
    single = load_panel("social-workers-8", professions)
    assert {p for _, p, _ in single.raters()} == {"social_worker"}
    for prof in professions.values():
        assert prof.voice


def test_cli_simulate(tmp_path, catalogue):
    out = tmp_path / "j.csv"
    result = CliRunner().invoke(app, ["panel", "simulate", "mixed-12", "training-12", "--rounds", "2",
                                      "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = read_table(out, "judgements")
    assert len(table) == 12 * 12 * 2
    cited = [f for factors in table["salient_factors"] for f in factors]
    assert cited and set(cited) <= set(catalogue.factor_ids)
    bad = CliRunner().invoke(app, ["panel", "simulate", "nope-3", "training-12", "-o", str(out)])
    assert bad.exit_code == 1 and "no such panel file" in bad.output


def test_the_professions_lens_lowers_agreement_in_a_mixed_panel(study, simulate, professions):
    # the same raters and draws, with and without their professions' different lenses and bars
    mixed = load_panel("mixed-12", professions)
    with_lens = simulate(study, mixed, random_state=5, rationale=False, off=["noise", "thresholds"])
    without = simulate(study, mixed, random_state=5, rationale=False, off=["noise", "thresholds", "lens"])
    assert ordinal_alpha(without) > ordinal_alpha(with_lens)


BUNDLED_PANELS = sorted(p.stem for p in panels_dir().glob("*.yaml") if p.stem != "professions")


@pytest.mark.parametrize("panel_id", BUNDLED_PANELS)
def test_every_bundled_panel_meets_the_contract(panel_id, simulate, professions, catalogue):
    """One contract for every registered panel: loads, simulates valid, deterministic judgements."""
    vignettes = load_set("training-12", catalogue)
    spec = load_panel(panel_id, professions)
    first = simulate(vignettes, spec, random_state=9, rounds=2, rationale=False)
    again = simulate(vignettes, spec, random_state=9, rounds=2, rationale=False)
    assert first.equals(again)
    assert len(first) == 2 * len(vignettes) * len(spec.raters())
    assert first["rater_id"].str.startswith(f"{spec.id}:").all()
    assert set(first["profession"]) == {m.profession for m in spec.members}


# ---------------------------------------------------------------- decks


@pytest.fixture(scope="module")
def training(catalogue):
    return load_set("training-12", catalogue)


def test_decks_keep_only_each_raters_deck_in_its_order(simulate, training, mixed):
    from dsk.decks import make_decks

    plan = make_decks(training["vignette_id"].tolist(), 4, 12, random_state=5)
    full = simulate(training, mixed, random_state=3)
    dealt = simulate(training, mixed, random_state=3, decks=plan)
    assert len(dealt) == 12 * 4
    # rater r (in panel order) is respondent r: the same vignettes, in the plan's order
    raters = list(dict.fromkeys(full["rater_id"]))
    for respondent, rater in enumerate(raters, start=1):
        mine = plan[plan["respondent"] == respondent].sort_values("position")
        rows = dealt[dealt["rater_id"] == rater]
        assert rows["vignette_id"].tolist() == mine["vignette_id"].tolist()
        assert rows["position"].tolist() == [1, 2, 3, 4]
        assert set(rows["deck_id"]) == {f"deck-{mine['deck'].iloc[0]}"}
    # the judgements are those of the full simulation: the random streams do not change
    key = ["vignette_id", "rater_id"]
    merged = dealt.merge(full, on=key, suffixes=("", "_full"))
    assert len(merged) == len(dealt)
    assert (merged["need_level"] == merged["need_level_full"]).all()
    assert merged["years_experience"].notna().all()


def test_no_decks_leaves_the_table_as_it_was(simulate, training, mixed):
    table = simulate(training, mixed, random_state=3)
    assert "deck_id" not in table.columns and "position" not in table.columns
    assert len(table) == 12 * 12


def test_decks_round_two_listens_only_to_colleagues_on_the_same_vignette(simulate, training, mixed):
    from dsk.decks import make_decks

    plan = make_decks(training["vignette_id"].tolist(), 6, 12, random_state=2)
    dealt = simulate(training, mixed, random_state=4, rounds=2, decks=plan)
    first, second = dealt[dealt["round"] == 1], dealt[dealt["round"] == 2]
    assert len(first) == len(second) == 12 * 6
    merged = first.merge(second, on=["vignette_id", "rater_id"], suffixes=("_1", "_2"))
    # every move goes towards the median of those who rated the vignette in round 1
    median = first.groupby("vignette_id")["need_level"].median()
    moved = merged[merged["need_level_1"] != merged["need_level_2"]]
    towards = np.sign(moved["vignette_id"].map(median) - moved["need_level_1"])
    assert len(moved) > 0
    assert ((moved["need_level_2"] - moved["need_level_1"]) == towards).all()


def test_decks_with_too_few_respondents_or_unknown_vignettes_are_errors(simulate, training, mixed):
    from dsk.decks import make_decks

    small = make_decks(training["vignette_id"].tolist(), 4, 6, random_state=1)
    with pytest.raises(ValueError, match="12 raters but the decks have only 6 respondents"):
        simulate(training, mixed, decks=small)
    wrong = make_decks([f"x{i}" for i in range(12)], 4, 12, random_state=1)
    with pytest.raises(ValueError, match="vignettes not in the vignettes table: x0"):
        simulate(training, mixed, decks=wrong)
