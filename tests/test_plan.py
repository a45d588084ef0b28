"""Study planning (dsk.plan): analytic sample sizes, one replication, summaries and the plan file.

The Dask runs (1 vs 2 workers, a real scheduler) are in test_plan_dask.py.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from dsk.analysis.coefficients import gwet_ac, krippendorff_alpha
from dsk.catalogue import load_catalogue
from dsk.decks import make_decks
from dsk.design import generate
from dsk.experiment import config_dict, config_docs, load_config
from dsk.panels import PanelMember, PanelSpec, load_professions, simulate_panel
from dsk.plan import (
    SIMULATED,
    PlanError,
    PlanResult,
    PlanSpec,
    bloch_kraemer_values,
    cross_checks,
    grid_cells,
    gwet_margin,
    gwet_sample_size,
    load_plan,
    professions_sequence,
    render_page,
    replicate,
    summarise,
)

# ---------------------------------------------------------------- analytic sample sizes


def test_gwet_n_is_one_over_e_squared() -> None:
    # Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., pp. 158-160: var(pa) <= 1/(4n),
    # so n = 1/E^2 subjects bound the 95% margin E.
    assert [gwet_sample_size(e) for e in (0.1, 0.05, 0.2, 0.15)] == [100, 400, 25, 45]
    # hand check: at p = .5 (the worst case) 1.96 * sqrt(.25 / n) is within the bound
    for e in (0.1, 0.05, 0.2):
        n = gwet_sample_size(e)
        assert 1.959964 * math.sqrt(0.25 / n) <= e
        assert gwet_margin(n) == pytest.approx(e)


def test_bloch_kraemer_as_krippendorff_gives_it() -> None:
    # Krippendorff (2019), Content Analysis, 4th ed., section 12.4 (Bloch & Kraemer 1989): with 4
    # equally likely categories at p = .05, alpha > .80 needs 139 values and alpha > .667 needs 81.
    assert bloch_kraemer_values(0.8, 0.25) == 139
    assert bloch_kraemer_values(0.667, 0.25) == 81
    # hand computation for three coders, p_min = .1, alpha_min = .7, p = .05 (z = 1.6449):
    # 3 * 1.6449^2 * (1.7 * 2.3 / (4 * .3 * .1 * .9) - .7) = 3 * 2.7055 * 35.5074 = 288.2
    assert bloch_kraemer_values(0.7, 0.1, coders=3) == 289
    with pytest.raises(ValueError, match="p_min"):
        bloch_kraemer_values(0.8, 0.7)


# ---------------------------------------------------------------- the grid and the seats


def test_grid_and_deck_arithmetic() -> None:
    plan = PlanSpec(vignettes=[48, 30], deck_size=[12], per_deck=[6], professions={
        "a": {"police": 1.0}, "b": {"gp": 1.0}})
    cells = grid_cells(plan)
    assert [(c.n_vignettes, c.mix, c.n_decks, c.practitioners) for c in cells] == [
        (48, "a", 4, 24), (48, "b", 4, 24), (30, "a", 5, 30), (30, "b", 5, 30)]
    assert cells[0].raters_per_vignette == 6
    assert cells[2].raters_per_vignette == 12  # 30 practitioners x 12 / 30 vignettes


def test_professions_sequence_shares_and_interleaves() -> None:
    seats = professions_sequence({"social_worker": 2, "police": 1, "gp": 1}, 10)
    # largest remainder: 5, 2.5, 2.5 -> 5, 3, 2 (ties to the first)
    assert {p: seats.count(p) for p in set(seats)} == {"social_worker": 5, "police": 3, "gp": 2}
    assert seats[:4] == ["social_worker", "police", "gp", "social_worker"]
    assert professions_sequence({"gp": 1}, 3) == ["gp", "gp", "gp"]


# ---------------------------------------------------------------- one replication


def test_replicate_is_the_simulated_panel_and_the_published_coefficients() -> None:
    """The replicate's fast path gives what simulate_panel with decks gives, and its alpha and
    AC2 are those of dsk.analysis.coefficients (checked there against krippendorff and irrCAC)."""
    plan = PlanSpec(vignettes=[24], deck_size=[8], per_deck=[3], professions={
        "m": {"social_worker": 1, "police": 1, "teacher": 1}})
    cell = grid_cells(plan)[0]
    seed = np.random.SeedSequence(2024)
    row = replicate(plan, cell, seed)

    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    design_seed, deck_seed, panel_seed = (int(x) for x in seed.generate_state(3))
    v = generate("stratified", 24, design_seed, cat, narratives=False, set_id="plan")
    decks = make_decks(v["vignette_id"].tolist(), 8, cell.practitioners, random_state=deck_seed)
    panel = PanelSpec(id="plan", seed=0, members=[
        PanelMember(profession=p, experience=8.0) for p in professions_sequence(plan.professions["m"], 9)])
    j = simulate_panel(v, panel, random_state=panel_seed, professions=profs, catalogue=cat, rationale=False,
                       decks=decks)
    assert row["alpha"] == pytest.approx(krippendorff_alpha(j, level="ordinal"), abs=1e-12)
    assert row["ac2"] == pytest.approx(gwet_ac(j, weights="quadratic"), abs=1e-12)
    high = j[j["vignette_id"].isin(v.loc[v["complexity_band"] == "high", "vignette_id"])]
    assert row["alpha_high"] == pytest.approx(krippendorff_alpha(high, level="ordinal"), abs=1e-12)
    counts = j["need_level"].value_counts(normalize=True).reindex([1, 2, 3, 4], fill_value=0)
    assert row["p_min"] == pytest.approx(counts.min())


def test_replicate_divergence_against_the_checklist() -> None:
    from dsk.rules import bundled_rulesets, evaluate, load_ruleset

    plan = PlanSpec(vignettes=[24], deck_size=[24], per_deck=[4])
    cell = grid_cells(plan)[0]
    seed = np.random.SeedSequence(7)
    row = replicate(plan, cell, seed)
    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    design_seed, deck_seed, panel_seed = (int(x) for x in seed.generate_state(3))
    v = generate("stratified", 24, design_seed, cat, narratives=False, set_id="plan")
    decks = make_decks(v["vignette_id"].tolist(), 24, 4, random_state=deck_seed)
    panel = PanelSpec(id="plan", seed=0, members=[
        PanelMember(profession=p, experience=8.0) for p in professions_sequence(plan.professions["mixed"], 4)])
    j = simulate_panel(v, panel, random_state=panel_seed, professions=profs, catalogue=cat, rationale=False,
                       decks=decks)
    rule = pd.Series(evaluate(load_ruleset(bundled_rulesets()["threshold-of-need"], cat), v,
                              catalogue=cat).need_level, index=v["vignette_id"])
    differs = (j["need_level"].to_numpy() != rule.loc[j["vignette_id"]].to_numpy())
    per_vignette = pd.Series(differs, index=j["vignette_id"]).groupby(level=0).mean()
    band = v.set_index("vignette_id")["complexity_band"]
    for b in ("low", "medium", "high"):
        assert row[f"div_{b}"] == pytest.approx(per_vignette[band[per_vignette.index] == b].mean())
    from scipy import stats

    low = per_vignette[band[per_vignette.index] == "low"]
    high = per_vignette[band[per_vignette.index] == "high"]
    assert row["div_p"] == pytest.approx(stats.ttest_ind(high, low, equal_var=False).pvalue)


# ---------------------------------------------------------------- summaries


def _reps(columns: dict[str, list[float]]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"cell": 0, "n_vignettes": 48, "deck_size": 12, "per_deck": 6, "mix": "mixed",
                         "practitioners": 24, "replication": range(n), **columns})


def test_half_width_power_and_their_monte_carlo_intervals() -> None:
    plan = PlanSpec(vignettes=[48], deck_size=[12], per_deck=[6], replications=101,
                    quantities=["alpha", "divergence"])
    x = np.linspace(0.0, 1.0, 101)  # quantiles .025 and .975 are .025 and .975 exactly
    p = np.r_[np.full(40, 0.01), np.full(61, 0.5)]
    reps = _reps({"alpha": list(x), "pa": list(x), "div_p": list(p), "div_low": [0.3] * 101,
                  "div_high": [0.1] * 101})
    summary = summarise(plan, reps)
    alpha = summary[(summary["quantity"] == "alpha") & (summary["scope"] == "all")].iloc[0]
    assert alpha["value"] == pytest.approx(0.475)
    assert alpha["mc_low"] < 0.475 < alpha["mc_high"] + 1e-12
    assert alpha["mean"] == pytest.approx(0.5)
    power = summary[summary["quantity"] == "divergence"].iloc[0]
    assert power["value"] == pytest.approx(40 / 101)
    low, high = proportion_confint(40, 101, alpha=0.05, method="wilson")
    assert (power["mc_low"], power["mc_high"]) == pytest.approx((low, high), abs=1e-6)
    assert power["mean"] == pytest.approx(-0.2)  # high minus low


def test_each_sentence_agrees_with_its_row() -> None:
    plan = PlanSpec(vignettes=[48], deck_size=[12], per_deck=[6], replications=50,
                    quantities=["alpha", "ac2", "divergence"])
    rng = np.random.default_rng(1)
    reps = _reps({"alpha": list(rng.normal(0.5, 0.05, 50)), "ac2": list(rng.normal(0.7, 0.03, 50)),
                  "pa": list(rng.normal(0.6, 0.04, 50)), "div_p": list(rng.uniform(0, 0.2, 50)),
                  "div_low": [0.3] * 50, "div_high": [0.2] * 50})
    summary = summarise(plan, reps)
    assert len(summary) == 4
    for row in summary.to_dict("records"):
        found = re.search(r" is (-?\d?\.\d\d) \((-?\d?\.\d\d)-(-?\d?\.\d\d)\)$", row["sentence"])
        assert found is not None, row["sentence"]
        assert [float(g) for g in found.groups()] == [round(row[c], 2) for c in ("value", "mc_low", "mc_high")]
        assert row["sentence"].startswith("with 24 practitioners in decks of 12 (48 vignettes, 6 per deck)")
    result = PlanResult(plan, reps, summary, cross_checks(plan, reps.assign(p_min=0.25), summary))
    assert result.sentences[0] == SIMULATED
    page = render_page(result)
    assert page.index("simulated practitioners") < page.index("<h1>")
    assert page.count("data:image/png;base64,") == 3  # alpha, AC2, divergence power
    assert summary["sentence"].iloc[0] in page.replace("&#39;", "'")


def test_cross_checks_use_the_formulas() -> None:
    plan = PlanSpec(vignettes=[100], deck_size=[50], per_deck=[2], replications=3, quantities=["alpha"],
                    alpha_min=[0.667, 0.8])
    reps = pd.DataFrame({"cell": 0, "p_min": [0.2, 0.25, 0.3], "pa": [0.5, 0.6, 0.7]})
    summary = pd.DataFrame({"cell": [0], "quantity": ["pa"], "scope": ["all"], "value": [0.05]})
    row = cross_checks(plan, reps, summary).iloc[0]
    assert row["gwet_margin"] == pytest.approx(0.1)
    assert row["gwet_n_for_simulated"] == 400
    assert row["coders"] == 2 and row["values"] == 200
    assert (row["bk_0.667"], row["bk_0.8"]) == (81, 139)  # mean p_min .25


# ---------------------------------------------------------------- the plan file and the config


def test_bundled_plan_and_config_docs() -> None:
    plan = load_plan("plan-pilot")
    assert plan.vignettes == [24, 48] and plan.per_deck == [3, 6, 12]
    assert "## plan" in config_docs() and "`replications`" in config_docs()


def test_plan_file_problems_all_at_once(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("plan:\n  vignettes: [10, 48]\n  deck_size: [12]\n  per_deck: [1]\n"
                    "  professions: {a: {polize: 1}}\n  replicatons: 3\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    problems = info.value.problems
    assert len(problems) == 4
    text = "\n".join(problems)
    assert f"{path}:4:" in text and "must be at least 2" in text
    assert f"{path}:5:" in text and "unknown profession 'polize'; did you mean 'police'?" in text
    assert f"{path}:6:3: unknown key 'replicatons' in plan; did you mean 'replications'?" in text
    assert "decks of 12 from 10 vignettes" in text


def test_a_plan_file_that_is_not_utf8_is_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("plan:\n  replications: 3  # caf\xe9\n".encode("latin-1"))
    with pytest.raises(PlanError, match=rf"^{path}: not UTF-8 text \(invalid continuation byte "
                       r"at byte \d+\)$"):
        load_plan(path)


def test_plan_section_of_an_experiment_config(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("id: x\nvignettes: {set: core-60}\nrulesets: [threshold-of-need]\n"
                    "panels: [{panel: mixed-12}]\nplan:\n  replications: 10\n  ruleset: threshold-of-nead\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert f"{path}:7:" in info.value.problems[0]
    assert "did you mean 'threshold-of-need'" in info.value.problems[0]
    path.write_text(path.read_text().replace("nead", "need"))
    assert load_plan(path).replications == 10
    assert load_config(path).plan is not None
    assert "plan" not in config_dict(load_config("quickstart"))  # the hash of a config without a plan is unchanged


def test_batches_and_their_order_do_not_change_the_table() -> None:
    from dsk.plan import _run_batch, _table, _tasks

    plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[2], replications=3, batch=1, seed=5,
                    professions={"a": {"gp": 1}, "b": {"police": 1, "teacher": 1}})
    one = _table([row for items in _tasks(plan) for row in _run_batch(plan, items)])
    bigger = plan.model_copy(update={"batch": 4})
    backwards = _table([row for items in reversed(_tasks(bigger)) for row in _run_batch(bigger, items)])
    assert one.to_csv(index=False) == backwards.to_csv(index=False)
    assert one["cell"].tolist() == [0, 0, 0, 1, 1, 1]
    assert one.loc[0, "alpha"] != one.loc[1, "alpha"]  # each replication has its own seed


# ---------------------------------------------------------------- the fast paths of a replication


def test_welch_p_is_scipys_to_the_last_bit() -> None:
    from scipy import stats

    from dsk.plan import _welch_p

    rng = np.random.default_rng(15)
    for i in range(300):
        n1, n2 = (int(x) for x in rng.integers(2, 30, size=2))
        if i % 2:  # divergence-like shares (k of 6 practitioners), ties and all
            a, b = rng.integers(0, 7, size=n1) / 6, rng.integers(0, 7, size=n2) / 6
        else:
            a, b = rng.normal(0.3, 0.2, size=n1), rng.normal(0.35, 0.1, size=n2)
        if a.std() == 0 and b.std() == 0:
            continue
        assert _welch_p(a, b) == float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    # one band without spread: scipy's df is still defined (scipy warns that the band has none)
    a, b = np.array([0.5, 0.5, 0.5]), np.array([0.1, 0.3, 0.2, 0.6])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert _welch_p(a, b) == expected


@pytest.mark.parametrize("ruleset", ["threshold-of-need", "toxic-trio", "count-of-concerns"])
def test_checklist_is_the_rule_engines_decision(ruleset: str) -> None:
    from dsk.plan import _checklist
    from dsk.rules import bundled_rulesets, evaluate, load_ruleset

    cat = load_catalogue()
    rules = load_ruleset(bundled_rulesets()[ruleset], cat)
    v = generate("random", 400, 9, cat, narratives=False, set_id="plan")
    expected = evaluate(rules, v, catalogue=cat).need_level
    got = _checklist(ruleset, v)
    assert got.tolist() == expected.tolist()
    assert len(set(got.tolist())) >= 2  # the rules decide, not only the default level


def test_replicates_without_validation_are_those_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import dsk.design as D
    import dsk.plan as P

    plan = PlanSpec(vignettes=[24], deck_size=[12], per_deck=[3], replications=4, seed=8)
    fast = P._table([row for items in P._tasks(plan) for row in P._run_batch(plan, items)])
    real = D.generate
    calls = []

    def checked(*args: object, **kwargs: object) -> pd.DataFrame:
        calls.append(kwargs.pop("validate"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(D, "generate", checked)
    slow = P._table([row for items in P._tasks(plan) for row in P._run_batch(plan, items)])
    assert calls == [False] * 4  # the replications skip the check; here they were checked
    assert fast.to_csv(index=False) == slow.to_csv(index=False)


# ---------------------------------------------------------------- tasks and workers


@pytest.mark.parametrize(("replications", "batch"), [(1000, 25), (50, 8), (7, 3), (3, 25), (12, 1)])
def test_tasks_cover_the_grid_in_order_with_short_last_tasks(replications: int, batch: int) -> None:
    from dsk.plan import TAIL, _tasks

    plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[2, 3], replications=replications, batch=batch)
    tasks = _tasks(plan)
    flat = [(c, r) for items in tasks for c, r, _ in items]
    assert flat == [(c, r) for c in range(2) for r in range(replications)]
    seeds = [s for items in tasks for _, _, s in items]
    assert [s.spawn_key for s in seeds] == [(i,) for i in range(2 * replications)]  # SeedSequence.spawn order
    sizes = [len(t) for t in tasks]
    small = math.ceil(batch / TAIL)
    # whole tasks of `batch`, then the last TAIL * batch replications (or all, if fewer; plus what
    # does not fill a whole task) in tasks of ceil(batch / TAIL): 2,000 in tasks of 25 -> 76 x 25, 14 x 7, 1 x 2
    n = 2 * replications
    tail = n if n <= TAIL * batch else TAIL * batch + (n - TAIL * batch) % batch
    assert sizes[:(n - tail) // batch] == [batch] * ((n - tail) // batch)
    assert all(s <= small for s in sizes[(n - tail) // batch:])
    assert sum(sizes[(n - tail) // batch:]) == tail
    if (replications, batch) == (1000, 25):
        assert sizes == [25] * 76 + [7] * 14 + [2]


def test_warm_worker_fills_the_caches_a_replication_reads() -> None:
    import dsk.plan as P
    from dsk._plan_worker import WarmUp

    for cache in (P._resources, P._hit_policy, P._weights):
        cache.cache_clear()
    P.warm_worker("toxic-trio")
    assert P._resources.cache_info().currsize == 1 and P._hit_policy.cache_info().currsize == 1
    assert P._weights.cache_info().currsize == 3
    hits = P._resources.cache_info().hits
    plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[2], ruleset="toxic-trio", quantities=["alpha"])
    P.replicate(plan, grid_cells(plan)[0], np.random.SeedSequence(3))
    assert P._resources.cache_info().currsize == 1 and P._resources.cache_info().hits > hits  # nothing reloaded
    # one plugin per checklist (and CLMM or not), so a second plan's registration runs it only if it differs
    assert WarmUp("toxic-trio").name != WarmUp("threshold-of-need").name != WarmUp("threshold-of-need", True).name
    assert WarmUp.idempotent


def test_workers_that_cannot_warm_up_are_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import Client, LocalCluster

    import dsk.plan as P

    def broken(ruleset: str, clmm: bool = False) -> None:
        raise ModuleNotFoundError("No module named 'dsk.design'")

    monkeypatch.setattr(P, "warm_worker", broken)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        with pytest.raises(PlanError, match="workers cannot import dsk"):
            P.warm_workers(client, PlanSpec())


def test_a_batch_runs_with_blas_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    import dsk.plan as P

    def threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = threads()
    inside: list[list[int]] = []
    monkeypatch.setattr(P, "replicate", lambda plan, cell, seed: inside.append(threads()) or {})
    plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[2], replications=2)
    P._run_batch(plan, P._tasks(plan)[0])
    assert before and len(inside) == 2
    assert all(n == [1] * len(before) for n in inside)  # every BLAS library (numpy's and scipy's) on one thread
    assert threads() == before  # and as they were afterwards
