"""Failure points: where, and why, a checklist parts from the panel.

:func:`failure_points` builds the ``failures`` table (one row per vignette x
ruleset): the rule's level, the panel's median and consensus, their
divergence, a quadrant, the rule's brittleness and reason codes.
:func:`divergence_model` asks which complexity dimensions drive divergence,
and :func:`teaching_cases` ranks the instructive cases for trainers.

Definitions
-----------
panel_consensus
    Tastle & Wierman's (2007) ordinal consensus of the panel's levels: 1 when
    everyone agrees, 0 for an even split between the extremes.
panel_median
    The panel's consensus level, :func:`dsk.analysis.median_level` (the lower
    median on a tie, so always a level on the scale).
divergence
    ``rule_level - panel_median``: positive where the checklist is more
    intrusive than the panel.
quadrant
    With a *clear* panel meaning ``panel_consensus >= clear`` (default
    :data:`dsk.schema.CLEAR_CONSENSUS`, 0.7)
    and the checklist *off* meaning ``|divergence| >= 1``:
    ``agreed_and_clear`` (clear, not off), ``checklist_off_consensus``
    (clear, off), ``panel_split`` (not clear; the checklist within a level of
    the median and neither defaulted nor conflicted), ``both_uncertain`` (not
    clear, and the checklist off, defaulted or conflicted).
brittleness
    The share of one-step factor changes (each factor one level up or down,
    within its range and the catalogue's exclusions, derived features
    recomputed) that change the rule's decision. Beside it,
    ``surrogate_shift`` is the mean absolute change in a panel surrogate's
    expected level over the same changes: a brittle rule where judgement
    barely moves is a *cliff*. The surrogate can only say how the panel
    responds to a factor it has seen vary, so a change counts towards a cliff
    only when the panel judged at least ``cliff_support`` vignettes at each of
    the two levels it moves between; on a small hand-built set most changes
    lack that support, and silence from the surrogate is not evidence of a
    cliff.
reasons
    ``defaulted`` (no rule fired), ``conflict`` (fired rules disagree),
    ``cliff`` (some supported one-step change moves the rule by ``k >= 1``
    levels while the surrogate moves by less than ``cliff_tolerance * k``),
    ``interaction_missed`` (interacting needs are present and the panel is
    higher than the rule), ``conflicting_reports`` (agencies contradict each
    other and the panel is split or the rule is off), ``protective_ignored``
    (a protective factor of the catalogue is present and the panel is lower
    than the rule), ``turbulence_missed`` (the vignette's turbulence,
    ``cx_turbulence``, is above 0 and the panel is higher than the rule).
    A code says that a mechanism is present where the two part ways, not that
    it caused the gap.
taught reasons
    A hand-built set may say which reason codes each vignette is meant to
    teach (its ``teaches`` key, kept ``;``-joined in a ``teaches`` column).
    :func:`teaching_check` says, per taught vignette and ruleset, whether the
    checklist diverges (``|divergence| >= 1``) and whether it does so *for the
    taught reason*: at least one taught code is among the reasons found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsk.analysis._features import base_features, panel_summary, with_derived
from dsk.catalogue import Catalogue
from dsk.panels.mechanisms import process_alone
from dsk.schema import CLEAR_CONSENSUS, COMPLEXITY_COLUMNS, QUADRANTS, REASONS, validate
from dsk.schema import columns as schema_columns

if TYPE_CHECKING:
    from dsk.analysis._surrogate import PanelSurrogate
    from dsk.rules import Ruleset

__all__ = [
    "QUADRANTS",
    "REASONS",
    "divergence_model",
    "failure_points",
    "holm_adjust",
    "one_step_changes",
    "taught_codes",
    "teaching_cases",
    "teaching_check",
]



def one_step_changes(X: pd.DataFrame, cat: Catalogue) -> tuple[pd.DataFrame, np.ndarray]:
    """Every plausible one-step change of one factor, for every row of ``X``.

    Returns the changed rows and, for each, the index of the row it came from.
    """
    levels = X[list(cat.factor_ids)].to_numpy(dtype=np.int64)
    child = {a: X[a].to_numpy(dtype=np.int64) for a in cat.child_ids}
    caps = cat.caps(child)
    n, n_factors = levels.shape
    parts, origin = [], []
    base = X.to_numpy()
    col = {name: i for i, name in enumerate(X.columns)}
    for j, fid in enumerate(cat.factor_ids):
        for step in (-1, 1):
            new = levels[:, j] + step
            ok = (new >= 0) & (new <= caps[:, j])
            rows = np.flatnonzero(ok)
            if rows.size == 0:
                continue
            changed = base[rows].copy()
            changed[:, col[fid]] = new[rows]
            parts.append(changed)
            origin.append(rows)
    if not parts:
        return X.iloc[:0], np.zeros(0, dtype=np.int64)
    out = pd.DataFrame(np.concatenate(parts), columns=X.columns).astype(X.dtypes.to_dict())
    return out, np.concatenate(origin)


def failure_points(vignettes: pd.DataFrame, decisions: pd.DataFrame, judgements: pd.DataFrame, *,
                   catalogue: Catalogue, ruleset: Ruleset | None = None, round_: int = 1,
                   clear: float = CLEAR_CONSENSUS, cliff_tolerance: float = 0.3,
                   cliff_support: int = 5, surrogate: PanelSurrogate | None = None, random_state: int = 0,
                   engine: str = "vector") -> pd.DataFrame:
    """The ``failures`` table for one ruleset's decisions against a panel.

    Parameters
    ----------
    vignettes : the vignettes table.
    decisions : the ruleset's decisions (one ruleset).
    judgements : the panel's judgements (practitioner rows are used; rules rows ignored).
    catalogue : the catalogue the vignettes were built with.
    ruleset : the parsed ruleset, needed for brittleness (None: brittleness left empty).
    cliff_support : fewest judged vignettes at each of the two levels of a one-step change
        for the change to count towards a cliff.
    surrogate : a fitted panel surrogate; fitted here from the panel when None.
    random_state : seed of the surrogate fitted here.
    engine : the rule engine that re-runs the ruleset on the one-step changes
        (``vector`` or ``durable``; both give the same table).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 30, 1, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    >>> d = evaluate(rs, v, catalogue=cat).decisions()
    >>> f = failure_points(v, d, j, catalogue=cat, ruleset=rs)
    >>> len(f), set(f["quadrant"]) <= set(QUADRANTS)
    (30, True)
    """
    from dsk.rules import evaluate

    cat = catalogue
    if decisions["ruleset_id"].nunique() != 1:
        raise ValueError("failure_points takes the decisions of one ruleset; filter by ruleset_id first")
    summary = panel_summary(judgements, round_)
    v = vignettes.set_index("vignette_id")
    d = decisions.set_index("vignette_id")
    ids = [i for i in vignettes["vignette_id"] if i in summary.index and i in d.index]
    if not ids:
        raise ValueError("no vignette has both a rule decision and panel judgements")
    s = summary.loc[ids]
    rule_level = d.loc[ids, "need_level"].to_numpy(dtype=np.int64)
    median = s["panel_median"].to_numpy(dtype=float)
    consensus = s["panel_consensus"].to_numpy(dtype=float)
    divergence = rule_level - median
    off = np.abs(divergence) >= 1
    is_clear = consensus >= clear
    defaulted = d.loc[ids, "defaulted"].to_numpy(dtype=bool)
    conflict = d.loc[ids, "conflict"].to_numpy(dtype=bool)
    quadrant = np.select(
        [is_clear & ~off, is_clear & off, ~is_clear & ~off & ~defaulted & ~conflict],
        ["agreed_and_clear", "checklist_off_consensus", "panel_split"], "both_uncertain")

    X = v.loc[ids, base_features(cat)].reset_index(drop=True).astype(np.int64)
    brittleness = np.full(len(ids), np.nan)
    shift = np.full(len(ids), np.nan)
    cliff = np.zeros(len(ids), dtype=bool)
    if ruleset is not None:
        if surrogate is None:
            from dsk.analysis._surrogate import PanelSurrogate

            surrogate = PanelSurrogate(cat, random_state=random_state).fit(X, s["panel_mean"].to_numpy())
        changed, origin = one_step_changes(X, cat)
        table = with_derived(changed, cat)
        after = evaluate(ruleset, table, engine=engine, catalogue=cat).need_level
        before = rule_level[origin]
        flips = after != before
        total = np.bincount(origin, minlength=len(ids))
        brittleness = np.bincount(origin, weights=flips, minlength=len(ids)) / np.maximum(total, 1)
        moved = np.abs(surrogate.predict(changed) - surrogate.predict(X)[origin])
        shift = np.bincount(origin, weights=moved, minlength=len(ids)) / np.maximum(total, 1)
        jump = ((np.abs(after - before) >= 1) & (moved < cliff_tolerance * np.abs(after - before))
                & _supported(X, changed, origin, cat, cliff_support))
        cliff = np.bincount(origin, weights=jump, minlength=len(ids)) > 0
    interaction = v.loc[ids, "cx_interconnection"].to_numpy(dtype=float) > 0
    conflicting = v.loc[ids, "cx_conflict"].to_numpy(dtype=float) > 0
    turbulent = v.loc[ids, "cx_turbulence"].to_numpy(dtype=float) > 0
    protective_ids = [f for f, p in zip(cat.factor_ids, cat.protective_mask, strict=True) if p]
    protected = (v.loc[ids, protective_ids].to_numpy(dtype=np.int64) > 0).any(axis=1) \
        if protective_ids else np.zeros(len(ids), dtype=bool)
    flags = {
        "defaulted": defaulted,
        "conflict": conflict,
        "cliff": cliff,
        "interaction_missed": interaction & (median > rule_level),
        "conflicting_reports": conflicting & (~is_clear | off),
        "protective_ignored": protected & (median < rule_level),
        "turbulence_missed": turbulent & (median > rule_level),
        "uncorroborated": process_alone(v.loc[ids, list(cat.factor_ids)].to_numpy(dtype=np.int64), cat)
        & (median < rule_level),
    }
    reasons = [[code for code in REASONS if flags[code][i]] for i in range(len(ids))]
    table = pd.DataFrame({
        "vignette_id": ids,
        "ruleset_id": decisions["ruleset_id"].iloc[0],
        "rule_level": rule_level,
        "panel_median": median,
        "panel_mean": s["panel_mean"].to_numpy(dtype=float),
        "panel_consensus": np.round(consensus, 6),
        "divergence": divergence,
        "quadrant": quadrant,
        "brittleness": np.round(brittleness, 6),
        "surrogate_shift": np.round(shift, 6),
        "reasons": reasons,
        "complexity_band": v.loc[ids, "complexity_band"].to_numpy(dtype=object),
    })
    return validate(table, "failures")


def _supported(X: pd.DataFrame, changed: pd.DataFrame, origin: np.ndarray, cat: Catalogue,
               support: int) -> np.ndarray:
    """Per one-step change: did the panel judge at least ``support`` vignettes at the changed
    factor's level before the change and as many at its level after?"""
    names = list(cat.factor_ids)
    before = X[names].to_numpy(dtype=np.int64)
    after = changed[names].to_numpy(dtype=np.int64)
    if len(after) == 0:
        return np.zeros(0, dtype=bool)
    factor = np.argmax(after != before[origin], axis=1)
    rows = np.arange(len(after))
    old, new = before[origin, factor], after[rows, factor]
    top = int(max(before.max(initial=0), after.max(initial=0))) + 1
    counts = np.zeros((len(names), top), dtype=np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(len(names)), before.shape), before), 1)
    return (counts[factor, old] >= support) & (counts[factor, new] >= support)


def divergence_model(failures: pd.DataFrame, vignettes: pd.DataFrame,
                     dimensions: tuple[str, ...] = COMPLEXITY_COLUMNS, min_events: int = 10) -> pd.DataFrame:
    """Logistic regression of divergence (``|divergence| >= 1``) on the complexity dimensions.

    Dimensions are standardised, so each odds ratio is per standard deviation.
    Returns the ``stats`` table rows (metric ``odds_ratio`` with a 95% Wald
    interval, plus ``p_value`` and ``p_holm``, the p-value adjusted by Holm's
    method across the dimensions of the ruleset's model, :func:`holm_adjust`),
    one per dimension and ruleset, and a column ``drives_breakdown`` (odds
    ratio above 1 with a Holm-adjusted p below 0.05). A ruleset with
    fewer than ``min_events`` divergent or fewer than ``min_events`` agreeing
    vignettes is not modelled (about ten events per variable would be needed
    for stable estimates; with fewer the fit separates and its intervals are
    meaningless), and gets no rows.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> cx = pd.DataFrame({"vignette_id": [f"v{i}" for i in range(200)], "cx_conflict": rng.random(200)})
    >>> parts = rng.random(200) < cx["cx_conflict"]  # divergence grows with conflicting reports
    >>> failures = pd.DataFrame({"vignette_id": cx["vignette_id"], "ruleset_id": "r",
    ...                          "divergence": np.where(parts, 2.0, 0.0)})
    >>> row = divergence_model(failures, cx, dimensions=("cx_conflict",)).iloc[0]
    >>> row["stratum"], bool(row["estimate"] > 1), bool(row["drives_breakdown"])
    ('dimension=cx_conflict', True, True)
    """
    import statsmodels.api as sm

    rows = []
    cx = vignettes.set_index("vignette_id")[list(dimensions)]
    for ruleset_id, part in failures.groupby("ruleset_id", sort=True):
        y = (part["divergence"].abs() >= 1).astype(float).to_numpy()
        X = cx.loc[part["vignette_id"]].to_numpy(dtype=float)
        sd = X.std(axis=0)
        keep = sd > 0
        Z = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
        names = [d for d, k in zip(dimensions, keep, strict=True) if k]
        events = int(y.sum())
        if min(events, len(y) - events) < min_events:
            continue  # too few divergent (or agreeing) vignettes for a logistic model
        model = sm.Logit(y, sm.add_constant(Z)).fit(disp=0, method="bfgs", maxiter=200)
        params, conf, pvals = model.params, model.conf_int(0.05), model.pvalues
        holm = holm_adjust(np.asarray(pvals[1:], dtype=float))
        for k, name in enumerate(names, start=1):
            odds, lo, hi = np.exp(params[k]), np.exp(conf[k][0]), np.exp(conf[k][1])
            base = {"analysis": "divergence_model", "comparison": f"{ruleset_id}~panel",
                    "stratum": f"dimension={name}", "n": len(y)}
            rows.append({**base, "metric": "odds_ratio", "estimate": odds, "ci_low": lo, "ci_high": hi,
                         "p_value": pvals[k], "p_holm": holm[k - 1],
                         "drives_breakdown": bool(odds > 1 and holm[k - 1] < 0.05)})
    return pd.DataFrame(rows, columns=[c.name for c in schema_columns("stats")])


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjustment of a family of p-values.

    The smallest of ``m`` p-values is multiplied by ``m``, the next by
    ``m - 1`` and so on, each kept at least as large as the one before and at
    most 1 (the formulas of ``statsmodels.stats.multitest.multipletests``,
    method ``holm``, written out here because that function runs a full
    garbage collection on every call, which dominated the ablation's time).
    Missing p-values stay missing and do not count towards ``m``.

    Examples
    --------
    >>> holm_adjust(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.09, 0.09, 0.5]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    if known.size:
        order = known[np.argsort(p[known], kind="stable")]
        steps = np.arange(known.size, 0, -1)
        out[order] = np.minimum(np.maximum.accumulate(p[order] * steps), 1.0)
    return out


def teaching_cases(failures: pd.DataFrame, vignettes: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Rank vignettes for a training room: clear, instructive divergences first, then agreements.

    Score = ``|divergence| * panel_consensus`` (a confident panel, a checklist
    far from it), plus 0.25 for each reason code other than ``defaulted``, so
    that cases with a nameable mechanism (a cliff, a missed interaction,
    conflicting reports) rise. The divergent rows (``|divergence| >= 1``,
    column ``diverges``) come first, by score, then the agreeing ones by
    score, so that a trainer also sees where the checklist holds. Ties go to
    the more complex vignette, then to the vignette id.

    Each vignette appears once, with its best-ranked row (a failures table of
    several rulesets gives each vignette its most instructive checklist).
    Returns ``top`` vignettes, or all there are when there are fewer.

    Examples
    --------
    >>> import pandas as pd
    >>> failures = pd.DataFrame({"vignette_id": ["a", "b", "c"], "ruleset_id": "r",
    ...                          "divergence": [2.0, 1.0, 0.0], "panel_consensus": [0.5, 0.9, 1.0],
    ...                          "reasons": [[], ["cliff"], []]})
    >>> vignettes = pd.DataFrame({"vignette_id": ["a", "b", "c"], "complexity": [0.2, 0.4, 0.6]})
    >>> teaching_cases(failures, vignettes)[["vignette_id", "teaching_score", "diverges"]].values.tolist()
    [['b', 1.15, True], ['a', 1.0, True], ['c', 0.0, False]]
    >>> teaching_cases(failures, vignettes, top=2)["vignette_id"].tolist()
    ['b', 'a']
    """
    cx = vignettes.set_index("vignette_id")["complexity"]
    scored = failures.copy()
    named = scored["reasons"].map(lambda r: sum(code != "defaulted" for code in _reason_list(r)))
    scored["teaching_score"] = scored["divergence"].abs() * scored["panel_consensus"] + 0.25 * named
    scored["complexity"] = scored["vignette_id"].map(cx)
    scored["diverges"] = (scored["divergence"].abs() >= 1).astype(bool)
    by = ["diverges", "teaching_score", "complexity", "vignette_id"]
    if "ruleset_id" in scored.columns:
        by.append("ruleset_id")
    ranked = scored.sort_values(by, ascending=[False, False, False, True, True][:len(by)], kind="stable")
    ranked = ranked.drop_duplicates("vignette_id", keep="first")
    return ranked.head(max(int(top), 0)).reset_index(drop=True)


def _reason_list(value: Any) -> list[str]:
    """A reasons cell (list, array or missing) as a list of codes."""
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return []
    return [str(code) for code in value]


def taught_codes(value: Any) -> list[str]:
    """The reason codes of a ``teaches`` cell: ``;``-joined text, a list, or missing (none).

    Examples
    --------
    >>> taught_codes("cliff;interaction_missed"), taught_codes(""), taught_codes(float("nan"))
    (['cliff', 'interaction_missed'], [], [])
    """
    if isinstance(value, str):
        return [code.strip() for code in value.split(";") if code.strip()]
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):  # None, NaN or pd.NA (CSV)
        return []
    return [str(code) for code in value]


def teaching_check(failures: pd.DataFrame, vignettes: pd.DataFrame, *,
                   taught_only: bool = True) -> pd.DataFrame:
    """Per taught vignette and ruleset: does the checklist diverge, and for the taught reason?

    ``vignettes`` needs a ``teaches`` column (the set's ``teaches`` key, ``;``-joined;
    see ``docs/vignettes.md``). One row per failures row of a vignette that teaches at
    least one code (every failures row when ``taught_only`` is False): ``vignette_id``,
    ``ruleset_id``, ``rule_level``, ``panel_median``, ``divergence``, ``diverges``
    (``|divergence| >= 1``), ``reasons`` (the codes found), ``teaches`` (the codes
    taught, a list) and ``for_taught_reason``: the checklist diverges *and* at least one
    taught code is among the reasons found.

    Raises
    ------
    ValueError
        When ``vignettes`` has no ``teaches`` column, or a taught code is not a reason code.

    Examples
    --------
    >>> import pandas as pd
    >>> failures = pd.DataFrame({"vignette_id": ["a", "b", "c"], "ruleset_id": "r",
    ...                          "rule_level": [2, 3, 2], "panel_median": [4.0, 3.0, 1.0],
    ...                          "divergence": [-2.0, 0.0, 1.0],
    ...                          "reasons": [["interaction_missed"], [], ["cliff"]]})
    >>> vignettes = pd.DataFrame({"vignette_id": ["a", "b", "c"],
    ...                           "teaches": ["interaction_missed", "", "protective_ignored"]})
    >>> check = teaching_check(failures, vignettes)
    >>> check[["vignette_id", "diverges", "for_taught_reason"]].values.tolist()
    [['a', True, True], ['c', True, False]]
    """
    if "teaches" not in vignettes.columns:
        raise ValueError("the vignettes table has no 'teaches' column: give the set's vignettes a "
                         "teaches key (see docs/vignettes.md)")
    teaches = {str(vid): taught_codes(t) for vid, t in zip(vignettes["vignette_id"], vignettes["teaches"],
                                                            strict=True)}
    unknown = sorted({c for codes in teaches.values() for c in codes if c not in REASONS})
    if unknown:
        raise ValueError(f"teaches: unknown reason code{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))} (reason codes: {', '.join(REASONS)})")
    rows = failures[failures["vignette_id"].isin(list(teaches))]
    if taught_only:
        rows = rows[rows["vignette_id"].map(lambda vid: bool(teaches[str(vid)]))]
    out = pd.DataFrame({
        "vignette_id": rows["vignette_id"].astype(str).to_numpy(dtype=object),
        "ruleset_id": rows["ruleset_id"].to_numpy(dtype=object),
        "rule_level": rows["rule_level"].to_numpy(dtype=np.int64),
        "panel_median": rows["panel_median"].to_numpy(dtype=float),
        "divergence": rows["divergence"].to_numpy(dtype=float),
    })
    out["diverges"] = np.abs(out["divergence"].to_numpy()) >= 1
    out["reasons"] = pd.Series([_reason_list(r) for r in rows["reasons"]], dtype=object)
    out["teaches"] = pd.Series([teaches[vid] for vid in out["vignette_id"]], dtype=object)
    out["for_taught_reason"] = [bool(d) and any(c in found for c in taught)
                                for d, found, taught in zip(out["diverges"], out["reasons"], out["teaches"],
                                                            strict=True)]
    return out
