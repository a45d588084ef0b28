"""Explanations: do the checklist and the panel decide for the same reasons?

Two views:

* :func:`factor_overlap` compares, per judgement, the factors behind the
  rules that fired with the factors the practitioner cited (Jaccard index),
  averaged per vignette and summarised by complexity band.
* :func:`shap_comparison` attributes the checklist's level and the panel's
  expected level to the same vignette features with SHAP, side by side.

Which explainer, and why: both sides are explained as functions of the same
base features (catalogue factors, child attributes, number of agencies;
derived counts are recomputed inside the function) with the antithetic
permutation estimator of SHAP's ``PermutationExplainer`` (vectorised here as
:func:`permutation_shap`, checked against ``shap.explainers.Exact``) over one
shared background sample. The ruleset is
neither a tree nor a linear model, so a model-agnostic explainer is needed
for it; using the same explainer, background and feature space for the
panel's surrogate (gradient boosting, see
:class:`dsk.analysis._surrogate.PanelSurrogate`) makes the two sets of
attributions directly comparable, where a TreeExplainer on the surrogate
would attribute to its own engineered inputs instead. The permutation
explainer with antithetic orderings is exact for additive structure and
keeps local accuracy (attributions sum to the prediction minus the
background mean).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dsk.analysis._features import base_features, panel_summary, with_derived
from dsk.catalogue import Catalogue
from dsk.schema import BANDS, columns, validate

if TYPE_CHECKING:
    from dsk.rules import Ruleset

#: A function from rows of features (n x F) to one prediction per row.
Predict = Callable[[np.ndarray], np.ndarray]

__all__ = ["ShapComparison", "factor_overlap", "permutation_shap", "rule_factors", "shap_comparison",
           "shap_comparisons", "shap_direction"]


def rule_factors(ruleset: Ruleset, vignettes: pd.DataFrame, fired: pd.Series,
                 catalogue: Catalogue) -> list[set[str]]:
    """Per vignette, the present factors that the fired rules read.

    A derived feature stands for the present factors it counts (``n_concerns``
    for every concern present, ``toxic_trio`` for the trio factors present).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import vignettes_from_specs
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> cat = load_catalogue()
    >>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    >>> v = vignettes_from_specs([{"id": "a", "age_band": "primary", "factors": {"disclosure": 1}}],
    ...                          "doc", 1, cat, narratives=False)
    >>> fired = evaluate(rs, v, catalogue=cat).decisions()["fired"]
    >>> rule_factors(rs, v, fired, cat)
    [{'disclosure'}]
    """
    cat = catalogue
    factor_set = set(cat.factor_ids)
    derived = {d.id: d.factors for d in cat.derived}
    by_rule = {r.id: r.names for r in ruleset.rules}
    out = []
    levels = vignettes.set_index("vignette_id")
    for vid, rules in zip(vignettes["vignette_id"], fired, strict=True):
        row = levels.loc[vid]
        names: set[str] = set()
        for rid in rules:
            for name in by_rule[rid]:
                if name in factor_set:
                    names.add(name)
                elif name in derived:
                    names.update(derived[name])
        out.append({n for n in names if row[n] > 0})
    return out


def factor_overlap(vignettes: pd.DataFrame, decisions: pd.DataFrame, judgements: pd.DataFrame,
                   ruleset: Ruleset, *, catalogue: Catalogue,
                   round_: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Jaccard overlap of the checklist's factors and practitioners' salient factors.

    Returns ``(per_vignette, stats)``: per vignette the mean Jaccard index over
    raters (two empty sets count as full agreement), and ``stats`` rows for
    all vignettes and each complexity band. A judgement whose
    ``salient_factors`` is missing (not collected) is left out; when no
    judgement has them, or the column is absent, both tables are empty.

    Examples
    --------
    >>> import pandas as pd
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import vignettes_from_specs
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> cat = load_catalogue()
    >>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    >>> v = vignettes_from_specs([{"id": "a", "age_band": "primary", "factors": {"disclosure": 1}}],
    ...                          "doc", 1, cat, narratives=False)
    >>> d = evaluate(rs, v, catalogue=cat).decisions()
    >>> j = pd.DataFrame({"vignette_id": ["a", "a"], "rater_id": ["r1", "r2"],
    ...                   "rater_kind": "human", "round": 1, "need_level": 4,
    ...                   "salient_factors": [["disclosure"], ["disclosure", "hygiene"]]})
    >>> per, stats = factor_overlap(v, d, j, rs, catalogue=cat)
    >>> float(per.loc[0, "jaccard"])
    0.75
    """
    cat = catalogue
    dec = decisions.set_index("vignette_id").loc[vignettes["vignette_id"]]
    ruled = dict(zip(vignettes["vignette_id"], rule_factors(ruleset, vignettes, dec["fired"], cat), strict=True))
    people = judgements[(judgements["rater_kind"] != "rules") & (judgements["round"] == round_)]
    cited_column = people["salient_factors"] if "salient_factors" in people.columns else \
        pd.Series([None] * len(people), index=people.index, dtype=object)
    scores = []
    for vid, cited in zip(people["vignette_id"], cited_column, strict=True):
        a = ruled.get(vid)
        if a is None or not isinstance(cited, (list, tuple, np.ndarray)):
            continue  # not a vignette of this run, or no salient factors collected
        b = set(cited)
        union = a | b
        scores.append((vid, 1.0 if not union else len(a & b) / len(union)))
    per = pd.DataFrame(scores, columns=["vignette_id", "jaccard"]).groupby("vignette_id", sort=False)["jaccard"]
    per_vignette = per.mean().rename("jaccard").reset_index()
    band = vignettes.set_index("vignette_id")["complexity_band"]
    per_vignette["complexity_band"] = per_vignette["vignette_id"].map(band)
    rows = []
    comparison = f"{ruleset.id}~panel"
    for stratum, part in [("all", per_vignette)] + [
            (f"complexity_band={b}", per_vignette[per_vignette["complexity_band"] == b]) for b in BANDS]:
        if part.empty:
            continue
        rows.append({"analysis": "explanations", "metric": "jaccard_factors", "comparison": comparison,
                     "stratum": stratum, "estimate": float(part["jaccard"].mean()),
                     "ci_low": np.nan, "ci_high": np.nan, "n": len(part)})
    stats = pd.DataFrame(rows) if rows else pd.DataFrame(columns=[c.name for c in columns("stats")])
    return per_vignette, validate(stats, "stats")


@dataclass(frozen=True)
class ShapComparison:
    """SHAP attributions for a ruleset and a panel surrogate on the same vignettes.

    Attributions add up to the prediction minus the base value (the mean
    prediction over the background). ``importance`` has one row per feature (mean absolute SHAP value on each
    side, the two ranks, and each side's direction: the correlation of the
    feature's value with its SHAP value, see :func:`shap_direction`); ``per_vignette`` the cosine similarity of the two
    attribution vectors; ``stats`` the stats-table rows (Spearman rank
    correlation overall and per band, mean cosine per band, surrogate
    fidelity).
    """

    rule_values: np.ndarray
    panel_values: np.ndarray
    rule_base: float
    panel_base: float
    features: list[str]
    vignette_ids: np.ndarray
    importance: pd.DataFrame
    per_vignette: pd.DataFrame
    stats: pd.DataFrame
    fidelity: dict[str, float]


def _row_keys(rows: np.ndarray, radix: np.ndarray) -> np.ndarray:
    """One exact complex key per row of small non-negative integers (mixed-radix, in two halves
    of at most 52 bits each, so both parts are exact in float64)."""
    bits = np.log2(radix)
    cut = int(np.searchsorted(np.cumsum(bits), 52, side="right"))
    halves = []
    for part in (slice(0, cut), slice(cut, None)):
        r = radix[part]
        weights = np.concatenate([np.cumprod(r[::-1])[::-1][1:], [1]]).astype(np.int64) if r.size else r
        halves.append(rows[:, part].astype(np.int64) @ weights if r.size else np.zeros(len(rows), np.int64))
    return halves[0].astype(float) + 1j * halves[1].astype(float)


def _unique_call(fn: Callable[[np.ndarray], np.ndarray], rows: np.ndarray,
                 radix: np.ndarray | None) -> np.ndarray:
    """``fn(rows)`` (r x q), evaluating each distinct row once (masked rows repeat a lot)."""
    if radix is None:
        return np.asarray(fn(rows), dtype=float)
    _, first, inverse = np.unique(_row_keys(rows, radix), return_index=True, return_inverse=True)
    return np.asarray(fn(rows[first]), dtype=float)[inverse.ravel()]


def permutation_shap(fn: Predict, X: np.ndarray, background: np.ndarray, random_state: int = 0,
                     chunk: int = 32, n_permutations: int = 1) -> np.ndarray:
    """Shapley values by antithetic permutation sampling, vectorised over vignettes.

    The same estimator as SHAP's ``PermutationExplainer`` with
    ``n_permutations`` antithetic pairs of orderings per vignette
    (``max_evals = 2 * n_permutations * n_features + 1``; 1 pair by default,
    as SHAP's default) and an independent masker over ``background``: for a
    random ordering of the features, and for its reverse, features are
    switched from background to the vignette one at a time, and each feature
    is credited with the change in the mean prediction over the background.
    All orderings are averaged. Attributions sum exactly to ``fn(x)`` minus
    the background mean (local accuracy) for any number of pairs, and are
    exact for additive functions and for two features; with interactions
    (the panel's surrogate, a checklist's thresholds) one pair is noisy at
    some 40 features, and the error of an attribution falls as
    1 / sqrt(n_permutations).

    Written here rather than calling ``shap.explainers.Permutation`` because
    that explainer evaluates one vignette at a time in Python; batching every
    vignette of a chunk into one call of ``fn`` makes SHAP on thousands of
    vignettes take seconds instead of minutes; for small non-negative integer
    features each distinct masked row is evaluated once. ``tests/analysis``
    checks it against ``shap.explainers.Exact``.

    ``random_state`` seeds the orderings; the same seed (and ``n_permutations``) gives the
    same values, and the first pair of orderings does not depend on ``n_permutations``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 2], [3, 0]])
    >>> background = np.array([[0, 0], [1, 1]])
    >>> values = permutation_shap(lambda d: 2.0 * d[:, 0] + d[:, 1], X, background)
    >>> values.tolist()  # additive: each feature's weight times its distance from the background mean
    [[1.0, 1.5], [5.0, -0.5]]
    """
    return _permutation_shap(lambda rows: np.asarray(fn(rows), dtype=float)[:, None], X, background,
                             random_state, chunk, n_permutations)[0]


def _permutation_shap(fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray, background: np.ndarray,
                      random_state: int = 0, chunk: int = 32, n_permutations: int = 1) -> list[np.ndarray]:
    """:func:`permutation_shap` of several functions at once, on the same masked rows.

    ``fn`` maps rows (r x F) to one column per function (r x q); returns q arrays of
    attributions (n x F). Each function's attributions are those :func:`permutation_shap`
    gives it alone (the same orderings, the same rows, the same sums in the same order), and
    the masked rows are built, and their distinct rows found, once for all of them. The
    values do not depend on ``chunk`` (vignettes per batch).
    """
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ValueError(f"n_permutations: expected a whole number of at least 1, got {n_permutations!r}")
    X = np.asarray(X)
    background = np.asarray(background)
    n, n_features = X.shape
    b = len(background)
    radix = None
    both = np.concatenate([X, background])
    if np.issubdtype(both.dtype, np.integer) and both.min() >= 0 and \
            np.log2(both.max(axis=0) + 1.0).sum() <= 104:
        radix = both.max(axis=0).astype(np.int64) + 1
    rng = np.random.default_rng(random_state)
    pairs = [np.argsort(rng.random((n, n_features)), axis=1) for _ in range(int(n_permutations))]
    values: list[np.ndarray] | None = None
    steps = np.arange(n_features + 1)
    share = 1.0 / (2 * len(pairs))
    for start in range(0, n, chunk):
        part = slice(start, min(n, start + chunk))
        m = part.stop - part.start
        directions = [d for orders in pairs for d in (orders[part], orders[part][:, ::-1])]
        # every ordering of the chunk at once: on[d, i, k, f], feature f comes from the
        # vignette at step k of ordering d of vignette i
        ranks = np.empty((len(directions), m, n_features), dtype=np.int64)
        for d, direction in enumerate(directions):
            ranks[d, np.arange(m)[:, None], direction] = np.arange(n_features)[None, :]
        on = ranks[:, :, None, :] < steps[None, None, :, None]  # (D, m, F+1, F)
        rows = np.where(on[:, :, :, None, :], X[part][None, :, None, None, :],
                        background[None, None, None, :, :])
        out = _unique_call(fn, rows.reshape(-1, n_features), radix)
        q = out.shape[1]
        if values is None:
            values = [np.zeros((n, n_features)) for _ in range(q)]
        out = out.reshape(len(directions), m, n_features + 1, b, q)
        where = (np.arange(part.start, part.stop)[:, None],)
        for j in range(q):
            for d, direction in enumerate(directions):
                mean = np.ascontiguousarray(out[d, :, :, :, j]).mean(axis=2)  # (m, F+1)
                gain = np.diff(mean, axis=1)  # credited to direction[:, k]
                np.add.at(values[j], (*where, direction), gain * share)
    return values if values is not None else [np.zeros((n, n_features))]


def shap_direction(X: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per feature, the correlation of its value with its SHAP value: the direction of its effect.

    Positive when higher values of the feature move the prediction up (for a
    concern present, a higher level), negative when they move it down (a
    protective factor), near 0 when its effect depends on the rest of the case.
    NaN for a feature that is constant, or whose attributions are (importance 0).
    The mean signed SHAP value would not do: with the background drawn from the
    same vignettes it is about 0 for every feature.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 1, 2], [1, 1, 0], [2, 1, 1]])
    >>> values = np.array([[-1.0, 0.0, -0.3], [0.0, 0.0, 0.6], [1.0, 0.0, 0.0]])
    >>> shap_direction(X, values).round(3).tolist()  # up, no attribution, down
    [1.0, nan, -0.982]
    """
    x = np.asarray(X, dtype=float)
    v = np.asarray(values, dtype=float)
    xc, vc = x - x.mean(axis=0), v - v.mean(axis=0)
    denom = np.sqrt((xc * xc).sum(axis=0) * (vc * vc).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * vc).sum(axis=0) / denom
    return np.where(denom > 1e-12, np.clip(r, -1.0, 1.0), np.nan)


def shap_comparison(vignettes: pd.DataFrame, judgements: pd.DataFrame, ruleset: Ruleset, *,
                    catalogue: Catalogue, round_: int = 1, background: int = 30,
                    random_state: int = 0, engine: str = "vector",
                    n_permutations: int = 1) -> ShapComparison:
    """SHAP for the ruleset and for a surrogate of the panel, side by side.

    Parameters
    ----------
    vignettes, judgements : the run's tables (rules rows of ``judgements`` are ignored).
    ruleset : the checklist to explain.
    catalogue : the catalogue the vignettes were built with.
    round_ : the round of the panel's judgements.
    background : the size of the shared background sample.
    random_state : seed of the surrogate, the background sample and the orderings.
    engine : the rule engine that re-runs the ruleset on the masked rows
        (``vector`` or ``durable``; both give the same attributions).
    n_permutations : antithetic pairs of feature orderings per vignette (see
        :func:`permutation_shap`); more pairs give less noisy attributions, at
        proportionally more evaluations.

    Examples
    --------
    >>> import numpy as np
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
    >>> result = shap_comparison(v, j, rs, catalogue=cat, background=5)
    >>> level = evaluate(rs, v, catalogue=cat).need_level
    >>> bool(np.allclose(result.rule_values.sum(axis=1) + result.rule_base, level))  # local accuracy
    True
    """
    return shap_comparisons(vignettes, judgements, [ruleset], catalogue=catalogue, round_=round_,
                            background=background, random_state=random_state, engine=engine,
                            n_permutations=n_permutations)[0]


def shap_comparisons(vignettes: pd.DataFrame, judgements: pd.DataFrame, rulesets: Sequence[Ruleset], *,
                     catalogue: Catalogue, round_: int = 1, background: int = 30,
                     random_state: int = 0, engine: str = "vector", n_permutations: int = 1,
                     chunk: int = 64) -> list[ShapComparison]:
    """:func:`shap_comparison` for several rulesets, one per ruleset, sharing the panel's side.

    The panel's surrogate, its fidelity, the background sample and the orderings do not
    depend on the ruleset, so they are made once; the masked rows are built once and every
    ruleset and the surrogate are evaluated on the same distinct rows (with their derived
    features computed once). Each result equals :func:`shap_comparison` of its ruleset.
    ``chunk`` (vignettes per batch of masked rows) changes the memory used, not the values.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.rules import bundled_rulesets, load_ruleset
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 30, 1, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> sets = [load_ruleset(bundled_rulesets()[r], cat) for r in ("threshold-of-need", "toxic-trio")]
    >>> both = shap_comparisons(v, j, sets, catalogue=cat, background=5)
    >>> alone = shap_comparison(v, j, sets[1], catalogue=cat, background=5)
    >>> bool((both[1].rule_values == alone.rule_values).all()), bool((both[0].panel_values == both[1].panel_values).all())
    (True, True)
    """
    from dsk.analysis._surrogate import PanelSurrogate, _one_thread
    from dsk.rules import evaluate

    cat = catalogue
    rulesets = list(rulesets)
    summary = panel_summary(judgements, round_)
    ids = np.array([v for v in vignettes["vignette_id"] if v in summary.index], dtype=object)
    v = vignettes.set_index("vignette_id").loc[ids]
    names = base_features(cat)
    X = v[names].to_numpy(dtype=np.int64)
    surrogate = PanelSurrogate(cat, random_state=random_state).fit(pd.DataFrame(X, columns=names),
                                                           summary.loc[ids, "panel_mean"].to_numpy())
    fidelity = surrogate.fidelity(pd.DataFrame(X, columns=names), summary.loc[ids, "panel_mean"].to_numpy(),
                                  summary.loc[ids, "panel_median"].to_numpy())
    rng = np.random.default_rng(random_state)
    bg = X[rng.choice(len(X), size=min(background, len(X)), replace=False)]

    def all_fn(data: np.ndarray) -> np.ndarray:
        """Each ruleset's level, then the surrogate's expected level, per row (r x (q + 1))."""
        table = with_derived(data, cat, ids=np.full(len(data), "", dtype=object))
        out = np.empty((len(data), len(rulesets) + 1))
        for q, ruleset in enumerate(rulesets):
            out[:, q] = evaluate(ruleset, table, engine=engine, catalogue=cat).need_level
        out[:, -1] = surrogate.predict_derived(table.drop(columns="vignette_id"))
        return out

    with _one_thread():
        on_background = all_fn(bg)
        base = [float(np.ascontiguousarray(on_background[:, q]).mean()) for q in range(len(rulesets) + 1)]
        *rule_values, panel_values = _permutation_shap(all_fn, X, bg, random_state, chunk=chunk,
                                                       n_permutations=n_permutations)
    return [_compare(ruleset, values, panel_values, rule_base, base[-1], names, ids, v, X, fidelity)
            for ruleset, values, rule_base in zip(rulesets, rule_values, base[:-1], strict=True)]


def _compare(ruleset: Ruleset, rule_values: np.ndarray, panel_values: np.ndarray, rule_base: float,
             panel_base: float, names: list[str], ids: np.ndarray, v: pd.DataFrame, X: np.ndarray,
             fidelity: dict[str, float]) -> ShapComparison:
    """The importance table, the per-vignette cosines and the stats rows of one ruleset."""
    from scipy.stats import spearmanr

    rule_imp = np.abs(rule_values).mean(axis=0)
    panel_imp = np.abs(panel_values).mean(axis=0)
    importance = pd.DataFrame({"feature": names, "rule_importance": rule_imp, "panel_importance": panel_imp})
    importance["rule_rank"] = importance["rule_importance"].rank(ascending=False, method="min").astype(int)
    importance["panel_rank"] = importance["panel_importance"].rank(ascending=False, method="min").astype(int)
    importance["rule_direction"] = shap_direction(X, rule_values)
    importance["panel_direction"] = shap_direction(X, panel_values)
    importance = importance.sort_values("panel_importance", ascending=False).reset_index(drop=True)
    norms = np.linalg.norm(rule_values, axis=1) * np.linalg.norm(panel_values, axis=1)
    cosine = np.where(norms > 0, (rule_values * panel_values).sum(axis=1) / np.where(norms > 0, norms, 1), np.nan)
    bands = v["complexity_band"].to_numpy(dtype=object)
    per_vignette = pd.DataFrame({"vignette_id": ids, "complexity_band": bands, "cosine": cosine})
    comparison = f"{ruleset.id}~panel"
    rows = []
    for stratum, mask in [("all", np.ones(len(ids), dtype=bool))] + [
            (f"complexity_band={b}", bands == b) for b in BANDS]:
        if mask.sum() < 3:
            continue
        r_imp = np.abs(rule_values[mask]).mean(axis=0)
        p_imp = np.abs(panel_values[mask]).mean(axis=0)
        rho = spearmanr(r_imp, p_imp).statistic if r_imp.std() > 0 and p_imp.std() > 0 else np.nan
        rows.append({"analysis": "explanations", "metric": "spearman_importance", "comparison": comparison,
                     "stratum": stratum, "estimate": float(rho), "ci_low": np.nan, "ci_high": np.nan,
                     "n": int(mask.sum())})
        rows.append({"analysis": "explanations", "metric": "cosine_attributions", "comparison": comparison,
                     "stratum": stratum, "estimate": float(np.nanmean(cosine[mask])), "ci_low": np.nan,
                     "ci_high": np.nan, "n": int(mask.sum())})
    for key, value in fidelity.items():
        rows.append({"analysis": "explanations", "metric": f"surrogate_{key}", "comparison": "surrogate~panel",
                     "stratum": "all", "estimate": value, "ci_low": np.nan, "ci_high": np.nan, "n": len(ids)})
    return ShapComparison(rule_values, panel_values, rule_base, panel_base,
                          names, ids, importance, per_vignette,
                          validate(pd.DataFrame(rows), "stats"), fidelity)
