"""One contract for every registered analysis (dsk.analysis.registry).

Every analysis runs on small runs: a simulated panel, human raters with only
the required judgement columns, one round, one ruleset. Each output must pass
its schema, hold no missing value where the schema forbids one, and be the
same bytes for the same seed. A registered analysis without contract settings
below fails the suite (docs/architecture.md, section "Analysis registry").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsk.analysis.registry import (
    Analyses,
    AnalysisInputs,
    AnalysisResult,
    AnalysisSettings,
    analysis_names,
    get_analysis,
    register,
    run_analyses,
    run_one,
)
from dsk.catalogue import Catalogue
from dsk.design import generate
from dsk.io import write_table
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.rules import Ruleset, bundled_rulesets, evaluate, load_ruleset
from dsk.schema import columns, validate

#: Small settings per registered analysis: a new analysis must add its own here.
CONTRACT_SETTINGS: Mapping[str, AnalysisSettings] = {
    "agreement": AnalysisSettings(bootstrap=10),
    "explanations": AnalysisSettings(shap_background=5),
    "failures": AnalysisSettings(teaching_cases=3),
    "learned": AnalysisSettings(learned_depths=(1, 2), learned_folds=3),
    "variance": AnalysisSettings(),
    "models": AnalysisSettings(),
}

SCENARIOS = ("simulated", "human-only", "one-round", "one-ruleset")
REQUIRED = ["vignette_id", "rater_id", "rater_kind", "round", "need_level"]
RULESETS = ("threshold-of-need", "count-of-concerns")


def _rules_rows(decisions: pd.DataFrame) -> pd.DataFrame:
    """The rulesets as raters, with the required judgement columns only."""
    return pd.DataFrame({"vignette_id": decisions["vignette_id"], "rater_id": decisions["ruleset_id"],
                         "rater_kind": "rules", "round": 1,
                         "need_level": decisions["need_level"].astype(np.int64)})


def _run(scenario: str, catalogue: Catalogue) -> tuple[dict[str, pd.DataFrame], list[Ruleset]]:
    """The tables an analysis may read, and the rulesets, of one small run."""
    vignettes = generate("stratified", 24, 3, catalogue, narratives=False)
    names = RULESETS[:1] if scenario == "one-ruleset" else RULESETS
    rulesets = [load_ruleset(bundled_rulesets()[n], catalogue) for n in names]
    results = [evaluate(rs, vignettes, catalogue=catalogue, margins=True) for rs in rulesets]
    decisions = pd.concat([r.decisions() for r in results], ignore_index=True)
    trace = pd.concat([r.trace() for r in results], ignore_index=True)
    rounds = 1 if scenario in ("one-round", "human-only") else 2
    profs = load_professions(catalogue=catalogue)
    people = simulate_panel(vignettes, load_panel("mixed-12", profs), rounds=rounds, professions=profs,
                            catalogue=catalogue, rationale=False)
    if scenario == "human-only":
        people = people[REQUIRED].assign(rater_kind="human")
    judgements = pd.concat([_rules_rows(decisions), people], ignore_index=True)
    return {"vignettes": vignettes, "decisions": decisions, "trace": trace, "judgements": judgements}, rulesets


@pytest.fixture(scope="module")
def runs(catalogue: Catalogue) -> dict[str, tuple[dict[str, pd.DataFrame], list[Ruleset]]]:
    return {s: _run(s, catalogue) for s in SCENARIOS}


def _settings(name: str) -> AnalysisSettings:
    if name not in CONTRACT_SETTINGS:
        pytest.fail(f"registered analysis {name!r} has no contract settings: add it to CONTRACT_SETTINGS "
                    "in tests/analysis/test_contract.py")
    return CONTRACT_SETTINGS[name]


def _outputs(result: AnalysisResult) -> dict[str, pd.DataFrame]:
    out = dict(result.tables)
    if result.stats is not None:
        out["stats"] = result.stats
    return out


def _bytes(table: pd.DataFrame, path: Path) -> bytes:
    write_table(table, path)
    return path.read_bytes()


def test_every_registered_analysis_has_contract_settings() -> None:
    assert analysis_names(), "no analysis is registered"
    missing = [n for n in analysis_names() if n not in CONTRACT_SETTINGS]
    assert not missing, f"registered analyses without contract settings: {', '.join(missing)}"
    stale = [n for n in CONTRACT_SETTINGS if n not in analysis_names()]
    assert not stale, f"contract settings for analyses that are not registered: {', '.join(stale)}"


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", analysis_names())
def test_contract(name: str, scenario: str, runs: dict, catalogue: Catalogue, tmp_path: Path) -> None:
    settings = _settings(name)
    analysis = get_analysis(name)
    tables, rulesets = runs[scenario]
    result = run_one(analysis, tables, rulesets=rulesets, catalogue=catalogue, random_state=7,
                     settings=settings)
    outputs = _outputs(result)
    assert set(result.tables) == set(analysis.writes)
    assert any(not t.empty for t in outputs.values()), f"{name} on {scenario}: every output is empty"
    if result.stats is not None:  # rows only under the labels it declared (a model may skip a small run)
        assert set(result.stats["analysis"]) <= set(analysis.stats)
    schemas = {**analysis.writes, **({"stats": "stats"} if "stats" in outputs else {})}
    for table, schema in schemas.items():
        frame = outputs[table]
        validate(frame, schema, source=f"{name} on {scenario}")  # columns, types, ranges
        for col in columns(schema):
            if col.nullable or col.name not in frame.columns:
                continue
            values = frame[col.name]
            missing = np.array([v is None for v in values]) if col.kind == "list" else \
                values.isna().to_numpy()
            assert not missing.any(), f"{name} on {scenario}: {table}.{col.name} has missing values"
    again = run_one(analysis, tables, rulesets=rulesets, catalogue=catalogue, random_state=7,
                    settings=settings)
    assert dict(again.files) == dict(result.files)
    for table, frame in _outputs(again).items():
        first = _bytes(outputs[table], tmp_path / f"a-{table}.parquet")
        assert _bytes(frame, tmp_path / f"b-{table}.parquet") == first, \
            f"{name} on {scenario}: {table} differs between two runs with the same seed"


def test_human_only_run_reports_no_factor_overlap(runs: dict, catalogue: Catalogue) -> None:
    """Without salient factors (not collected) there is no Jaccard overlap; SHAP rows remain."""
    tables, rulesets = runs["human-only"]
    result = run_one(get_analysis("explanations"), tables, rulesets=rulesets, catalogue=catalogue,
                     settings=CONTRACT_SETTINGS["explanations"])
    assert result.stats is not None
    metrics = set(result.stats["metric"])
    assert "jaccard_factors" not in metrics and "spearman_importance" in metrics
    tables, rulesets = runs["simulated"]
    simulated = run_one(get_analysis("explanations"), tables, rulesets=rulesets, catalogue=catalogue,
                        settings=CONTRACT_SETTINGS["explanations"])
    assert simulated.stats is not None and "jaccard_factors" in set(simulated.stats["metric"])


def test_professions_that_never_shared_a_vignette_get_no_overlap_rows(runs: dict,
                                                                     catalogue: Catalogue) -> None:
    """Two decks, each taken by other professions: the pairs across decks get one no_overlap row
    per stratum (estimate 0 shared vignettes), never n = 0 or NaN agreement rows."""
    tables, rulesets = runs["one-round"]
    judgements = tables["judgements"]
    ids = sorted(tables["vignettes"]["vignette_id"])
    deck_a = judgements["profession"].isin(["social_worker", "teacher", "health_visitor"])
    first = judgements["vignette_id"].isin(ids[: len(ids) // 2])
    keep = (judgements["rater_kind"] == "rules") | (deck_a & first) | (~deck_a & ~first)
    decked = {**tables, "judgements": judgements[keep].reset_index(drop=True)}
    result = run_one(get_analysis("agreement"), decked, rulesets=rulesets, catalogue=catalogue,
                     settings=CONTRACT_SETTINGS["agreement"])
    assert result.stats is not None
    stats = result.stats
    across = stats[stats["comparison"] == "police~social_worker"]
    strata = {s for s in stats["stratum"] if ":" not in s}  # not the within-panel band differences
    assert set(across["metric"]) == {"no_overlap"} and set(across["stratum"]) == strata
    assert (across["estimate"] == 0).all() and (across["n"] == 0).all()
    within = stats[stats["comparison"] == "social_worker~teacher"]
    assert "no_overlap" not in set(within.loc[within["stratum"] == "all", "metric"])
    agreement_rows = stats[stats["metric"] != "no_overlap"]
    assert not ((agreement_rows["n"] == 0) & agreement_rows["comparison"].str.fullmatch(
        r"[a-z_]+~[a-z_]+")).any()


def test_seed_reaches_the_analyses(runs: dict, catalogue: Catalogue) -> None:
    """Another random_state gives other numbers where an analysis is random (the SHAP orderings)."""
    tables, rulesets = runs["simulated"]
    a, b = (run_one(get_analysis("explanations"), tables, rulesets=rulesets, catalogue=catalogue,
                    random_state=seed, settings=CONTRACT_SETTINGS["explanations"]) for seed in (1, 2))
    assert not a.tables["importance"]["panel_importance"].equals(b.tables["importance"]["panel_importance"])


def test_durable_engine_gives_the_same_tables(catalogue: Catalogue, tmp_path: Path) -> None:
    """Analyses that re-run the rules use the config's engine; both engines give the same bytes."""
    tables, rulesets = _run("one-round", catalogue)
    small = tables["vignettes"].groupby("complexity_band", sort=False).head(4).reset_index(drop=True)
    keep = set(small["vignette_id"])
    tables = {k: (t[t["vignette_id"].isin(keep)].reset_index(drop=True) if "vignette_id" in t else t)
              for k, t in tables.items()}
    for name in analysis_names():
        settings = _settings(name)
        vector, durable = (run_one(get_analysis(name), tables, rulesets=rulesets, catalogue=catalogue,
                                   engine=engine, random_state=3, settings=settings)
                           for engine in ("vector", "durable"))
        assert dict(vector.files) == dict(durable.files)
        for table, frame in _outputs(vector).items():
            assert _bytes(frame, tmp_path / f"v-{table}.parquet") == \
                _bytes(_outputs(durable)[table], tmp_path / f"d-{table}.parquet"), f"{name}: {table} differs"


@pytest.mark.parametrize("name", ["explanations", "failures", "learned"])
def test_analyses_that_rerun_the_rules_use_the_named_engine(name: str, runs: dict, catalogue: Catalogue) -> None:
    """The engine reaches the rule engine: a name it does not know is refused there."""
    tables, rulesets = runs["one-ruleset"]
    with pytest.raises(ValueError, match="engine: expected one of durable, vector, got 'abacus'"):
        run_one(get_analysis(name), tables, rulesets=rulesets, catalogue=catalogue, engine="abacus",
                settings=_settings(name))


def test_unknown_analysis_lists_the_known_ones(runs: dict, catalogue: Catalogue) -> None:
    tables, rulesets = runs["one-ruleset"]
    with pytest.raises(KeyError, match="unknown analysis 'vibes'; known analyses: agreement, explanations"):
        run_analyses(["agreement", "vibes"], tables, rulesets=rulesets, catalogue=catalogue)


def test_run_analyses_keeps_registration_order(runs: dict, catalogue: Catalogue) -> None:
    """Stats rows come in registration order whatever the order of the config's list."""
    tables, rulesets = runs["one-ruleset"]
    settings = AnalysisSettings(learned_depths=(1,), learned_folds=3, teaching_cases=2)
    out = run_analyses(["learned", "failures"], tables, rulesets=rulesets, catalogue=catalogue,
                       settings=settings)
    labels = list(dict.fromkeys(out.stats["analysis"]))
    assert labels[-1] == "learned_checklists"
    assert not out.tables["failures"].empty and out.tables["importance"].empty
    assert list(out.files) == ["learned/learned-depth-1.yaml"]


def test_a_durable_run_writes_the_same_tables_as_a_vector_run(tmp_path: Path) -> None:
    """The runner passes the config's engine to the analyses; both engines write the same bytes."""
    from dsk.experiment import load_config, run_experiment

    config = load_config("training").model_copy(update={"analyses": list(analysis_names()), "bootstrap": 10,
                                                        "shap_background": 5})
    vector = run_experiment(config, tmp_path / "vector", report=False)
    durable = run_experiment(config.model_copy(update={"engine": "durable"}), tmp_path / "durable",
                             report=False)
    assert durable.manifest["config"]["engine"] == "durable"
    assert all(not vector.tables[t].empty for t in ("stats", "failures", "importance"))
    assert durable.manifest["tables"] == vector.manifest["tables"]
    for learned in (tmp_path / "vector" / "learned").glob("*.yaml"):
        assert learned.read_bytes() == (tmp_path / "durable" / "learned" / learned.name).read_bytes()


def _stats_row(label: str, estimate: float) -> pd.DataFrame:
    return pd.DataFrame([{"analysis": label, "metric": "m", "comparison": "c", "stratum": "all",
                          "estimate": estimate, "ci_low": np.nan, "ci_high": np.nan, "n": 1}])


def test_registration_is_checked() -> None:
    mine = Analyses()

    @register("writer", reads=("judgements",), writes={"importance": "importance"}, registry=mine)
    def writer(inputs: AnalysisInputs) -> AnalysisResult:  # pragma: no cover - never run
        return AnalysisResult()

    with pytest.raises(ValueError, match="'writer' is already registered"):
        register("writer", reads=("judgements",), stats=("x",), registry=mine)(writer)
    with pytest.raises(ValueError, match="'again': table\\(s\\) importance already written by 'writer'"):
        register("again", reads=("judgements",), writes={"importance": "importance"}, registry=mine)(writer)
    with pytest.raises(ValueError, match="reads failures: neither a table of the run"):
        register("reader", reads=("failures",), stats=("x",), registry=mine)(writer)
    with pytest.raises(ValueError, match="table 'models' has no schema 'models' in dsk.schema"):
        register("models", reads=("judgements",), writes={"models": "models"}, registry=mine)(writer)
    with pytest.raises(ValueError, match="'idle' writes no table and no stats rows"):
        register("idle", reads=("judgements",), registry=mine)(writer)
    assert list(mine) == ["writer"]


def test_an_analysis_reads_what_an_earlier_one_wrote(runs: dict, catalogue: Catalogue) -> None:
    mine = Analyses()

    @register("features", reads=("vignettes",), writes={"importance": "importance"}, registry=mine)
    def features(inputs: AnalysisInputs) -> AnalysisResult:
        names = ["hygiene", "housing"]
        table = pd.DataFrame({"feature": names, "rule_importance": [0.5, 0.2], "panel_importance": [0.1, 0.3],
                              "rule_rank": [1, 2], "panel_rank": [2, 1], "ruleset_id": "r"})
        return AnalysisResult(tables={"importance": table})

    @register("top", reads=("importance",), stats=("top",), registry=mine)
    def top(inputs: AnalysisInputs) -> AnalysisResult:
        return AnalysisResult(stats=_stats_row("top", float(inputs.table("importance")["rule_importance"].max())))

    tables, rulesets = runs["one-ruleset"]
    with pytest.raises(ValueError, match="'top' reads importance, which analysis 'features' writes: run"):
        run_analyses(["top"], tables, rulesets=rulesets, catalogue=catalogue, registry=mine)
    out = run_analyses(["top", "features"], tables, rulesets=rulesets, catalogue=catalogue, registry=mine)
    assert out.stats["estimate"].tolist() == [0.5] and len(out.tables["importance"]) == 2


def test_an_analysis_that_breaks_its_declaration_is_refused(runs: dict, catalogue: Catalogue) -> None:
    """Undeclared tables, stats rows under another label and tables that break their schema."""
    mine = Analyses()
    tables, rulesets = runs["one-ruleset"]

    @register("mislabelled", reads=("judgements",), stats=("mine",), registry=mine)
    def mislabelled(inputs: AnalysisInputs) -> AnalysisResult:
        return AnalysisResult(stats=_stats_row("theirs", 1.0))

    @register("stray", reads=("judgements",), stats=("stray",), registry=mine)
    def stray(inputs: AnalysisInputs) -> AnalysisResult:
        return AnalysisResult(tables={"failures": pd.DataFrame()})

    @register("broken", reads=("judgements",), writes={"importance": "importance"}, registry=mine)
    def broken(inputs: AnalysisInputs) -> AnalysisResult:
        return AnalysisResult(tables={"importance": pd.DataFrame({"feature": ["a"], "rule_importance": [np.nan],
                                                                  "panel_importance": [0.1], "rule_rank": [1],
                                                                  "panel_rank": [1], "ruleset_id": ["r"]})})

    for name, message in (("mislabelled", "wrote stats rows labelled theirs; it declared mine"),
                          ("stray", "returned undeclared table\\(s\\) failures"),
                          ("broken", "importance.rule_importance: missing value")):
        with pytest.raises(ValueError, match=message):
            run_one(mine[name], tables, rulesets=rulesets, catalogue=catalogue)


def test_a_rater_without_vignettes_in_a_stratum_gets_no_overlap_rows() -> None:
    """The rules against each rater, and each rater against the others, where the rater's deck
    holds no vignette of the stratum: one no_overlap row, no NaN coefficients."""
    from dsk.analysis import agreement_stats

    rows = [(v, r, "human", lvl) for v, r, lvl in (("a", "p1", 2), ("a", "p2", 2), ("b", "p1", 3),
                                                    ("b", "p2", 2), ("c", "p3", 4), ("c", "p4", 4),
                                                    ("d", "p3", 3), ("d", "p4", 4))]
    rows += [(v, "rule", "rules", 3) for v in "abcd"]
    j = pd.DataFrame(rows, columns=["vignette_id", "rater_id", "rater_kind", "need_level"]).assign(round=1)
    out = agreement_stats(j, {"a": "deck=1", "b": "deck=1", "c": "deck=2", "d": "deck=2"}, n_boot=0)
    deck1 = out[out["stratum"] == "deck=1"]
    for comparison in ("rater:p3~other-raters", "rules:rule~p3"):
        row = deck1[deck1["comparison"] == comparison]
        assert row[["metric", "estimate", "n"]].values.tolist() == [["no_overlap", 0.0, 0]]
    p1 = deck1[deck1["comparison"] == "rater:p1~other-raters"].set_index("metric")
    assert p1.loc["mean_percent_exact", "estimate"] == pytest.approx(0.5) and p1["n"].tolist() == [2, 2]
    assert not deck1.loc[deck1["metric"] != "no_overlap", "n"].eq(0).any()
