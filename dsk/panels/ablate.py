"""Which assumption produces which finding: the simulated panel with its mechanisms switched off.

A simulated panel's findings follow from the model's mechanisms
(:data:`dsk.panels.mechanisms.MECHANISMS`), some supported by a published study and some
assumptions. :func:`ablate` simulates the panel once with the full model, once with each
mechanism switched off in turn, and once with all of them off (the *item reading alone*:
each indicator at its usual level in the threshold documents), always with the same random
draws (``simulate_panel(..., off=...)``), and computes the headline findings of each
variant on round 1:

``alpha_ordinal``, ``exact_agreement``
    Krippendorff's alpha (ordinal) and exact agreement (the mean share of agreeing pairs of
    practitioners) per complexity band (``complexity_band=B``), and the highest band minus
    the lowest (``complexity_band:HIGH-LOW``).
``checklist_exact``
    Per ruleset, the share of vignettes on which the checklist gives the panel median (the
    lower median, :func:`dsk.analysis.median_level`) per band, and highest minus lowest.
``divergence_odds_ratio``, ``divergence_driver``
    Per ruleset and complexity dimension (``dimension=cx_...``), the odds ratio of the
    divergence model (:func:`dsk.analysis.divergence_model` on
    :func:`dsk.analysis.failure_points`) and whether the dimension drives divergence (1: odds
    ratio above 1 and Holm-adjusted p below .05; 0: not; missing: the model was not fitted,
    too few divergent or agreeing vignettes).
``teaching_divergent``
    Per ruleset, the number of teaching cases on which the checklist is a level or more from
    the panel median (``n`` is the number of teaching cases).
``item_reading_share``
    Full model only: the share of its simulated levels that equal the level of the item
    reading alone (overall, ``all``, and per band): the levels the item table alone decides.

Then :func:`produced_by` says which mechanisms produce each finding of the full model
(:data:`PRODUCED_BY_RULE`): for a difference, the mechanisms whose removal moves it at
least half-way to zero or reverses its sign; for a divergence driver, those whose removal
removes it; for the teaching divergences, those whose removal lowers the count.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.design import generate
>>> from dsk.panels import load_panel, load_professions
>>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
>>> cat = load_catalogue()
>>> profs = load_professions(catalogue=cat)
>>> v = generate("stratified", 60, 1, cat, narratives=False)
>>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
>>> result = ablate(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
...                 decisions=evaluate(rs, v, catalogue=cat).decisions(), random_state=1)
>>> result.variants[:3], result.variants[-1]
(('full', 'without_amplification', 'without_protective'), 'item_reading')
>>> sorted(result.findings["finding"].unique())  # doctest: +NORMALIZE_WHITESPACE
['alpha_ordinal', 'checklist_exact', 'divergence_driver', 'divergence_odds_ratio',
 'exact_agreement', 'item_reading_share', 'teaching_divergent']
>>> share = result.item_reading_share
>>> bool(0 <= share.loc["all"] <= 1), list(share.index)
(True, ['all', 'complexity_band=low', 'complexity_band=medium', 'complexity_band=high'])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.panels.mechanisms import MECHANISMS, MECHANISMS_BY_ID
from dsk.panels.profiles import PanelSpec, ProfessionProfile
from dsk.schema import BANDS, COMPLEXITY_COLUMNS, NEED_LEVELS, validate

__all__ = [
    "FINDINGS",
    "FULL",
    "ITEM_READING_VARIANT",
    "PRODUCED_BY_RULE",
    "Ablation",
    "ablate",
    "produced_by",
    "variant_label",
    "variants",
]

#: The variant with every mechanism on.
FULL = "full"
#: The variant with every mechanism off: the item reading alone.
ITEM_READING_VARIANT = "item_reading"
#: The findings computed for every variant, and what each means.
FINDINGS = {
    "alpha_ordinal": "Krippendorff's alpha (ordinal) among the practitioners",
    "exact_agreement": "exact agreement among the practitioners (share of agreeing pairs)",
    "checklist_exact": "share of vignettes on which the checklist gives the panel median",
    "divergence_odds_ratio": "odds ratio of divergence per standard deviation of the dimension",
    "divergence_driver": "the dimension drives divergence (odds ratio above 1, Holm p < .05)",
    "teaching_divergent": "teaching cases on which the checklist is a level or more from the panel "
                          "median",
    "item_reading_share": "share of the full model's levels that the item reading alone decides",
}
#: How :func:`produced_by` decides which mechanisms produce a finding (printed in the notes).
PRODUCED_BY_RULE = (
    "A mechanism produces a difference between bands when switching it off (all else equal, same "
    "random draws) moves the difference at least half-way to zero or reverses its sign; it produces "
    "a divergence driver when switching it off removes the driver (the dimension no longer drives "
    "divergence, or too few vignettes diverge to fit the model); it produces the divergence on "
    "teaching cases when switching it off lowers their count.")
#: The number of the driver test: an odds ratio above 1 with Holm-adjusted p below this.
DRIVER_P = 0.05


def variants() -> tuple[str, ...]:
    """The variants, in order: the full model, each mechanism off in turn, the item reading alone.

    >>> variants()[:2], len(variants()) == len(MECHANISMS) + 2
    (('full', 'without_amplification'), True)
    """
    return (FULL, *(f"without_{m.id}" for m in MECHANISMS), ITEM_READING_VARIANT)


def _off(variant: str) -> tuple[str, ...]:
    if variant == FULL:
        return ()
    if variant == ITEM_READING_VARIANT:
        return tuple(m.id for m in MECHANISMS)
    return (variant.removeprefix("without_"),)


def variant_label(variant: str) -> str:
    """Plain words for a variant, with the mechanism's support.

    >>> variant_label("full"), variant_label("item_reading")
    ('full model', 'item reading alone')
    >>> variant_label("without_trajectory")
    'without trajectory: escalation and turbulence (assumption)'
    """
    if variant == FULL:
        return "full model"
    if variant == ITEM_READING_VARIANT:
        return "item reading alone"
    mechanism = MECHANISMS_BY_ID[variant.removeprefix("without_")]
    return f"without {mechanism.label[0].lower()}{mechanism.label[1:]} ({mechanism.support})"


@dataclass(frozen=True)
class Ablation:
    """The findings of every variant and which mechanisms produce the full model's findings.

    ``findings`` is the long table (``dsk.schema`` ``ablation``: panel_id, variant, finding,
    ruleset, stratum, value, n); ``summary`` the produced-by table (``ablation_produced_by``).
    """

    findings: pd.DataFrame
    summary: pd.DataFrame
    variants: tuple[str, ...]
    teaching_ids: tuple[str, ...]

    def finding(self, name: str) -> pd.DataFrame:
        """One finding as a wide frame: rows = variants (in order), columns = (ruleset, stratum).

        Panel-wide findings have the ruleset ``""`` in their column.
        """
        if name not in FINDINGS:
            raise KeyError(f"unknown finding {name!r}; findings are {', '.join(FINDINGS)}")
        part = self.findings[self.findings["finding"] == name]
        wide = part.assign(ruleset=part["ruleset"].fillna("")).pivot_table(
            index="variant", columns=["ruleset", "stratum"], values="value", aggfunc="first",
            dropna=False, sort=False)
        return wide.reindex([v for v in self.variants if v in wide.index])

    @property
    def item_reading_share(self) -> pd.Series:
        """The item-reading share of the full model, by stratum (``all`` first)."""
        part = self.findings[self.findings["finding"] == "item_reading_share"]
        return pd.Series(part["value"].to_numpy(dtype=float), index=pd.Index(part["stratum"], name="stratum"),
                         name="item_reading_share")


def _bands(vignettes: pd.DataFrame) -> list[str]:
    present = set(vignettes["complexity_band"])
    return [b for b in BANDS if b in present]


def _difference(bands: Sequence[str]) -> str:
    return f"complexity_band:{bands[-1]}-{bands[0]}"


def _codes(judgements: pd.DataFrame, vignette_ids: np.ndarray) -> np.ndarray:
    """Round-1 levels as a (vignettes x raters) array of category codes, -1 where not rated."""
    rows = pd.Index(vignette_ids).get_indexer(judgements["vignette_id"])
    raters, cols = np.unique(judgements["rater_id"].to_numpy(dtype=str), return_inverse=True)
    codes = np.full((len(vignette_ids), len(raters)), -1, dtype=np.int64)
    codes[rows, cols] = np.searchsorted(np.asarray(NEED_LEVELS), judgements["need_level"].to_numpy())
    return codes


def _panel_agreement(codes: np.ndarray) -> tuple[float, float, int]:
    """Ordinal alpha and exact agreement of a (units x raters) code array, and the units rated twice."""
    from dsk.analysis import _kernels as K

    if codes.shape[0] == 0:
        return np.nan, np.nan, 0
    sums = K.panel_sums(K.onehot(codes, len(NEED_LEVELS)))
    alpha = float(K.krippendorff(sums, "ordinal", np.asarray(NEED_LEVELS, dtype=float))[0])
    exact = float(K.percent_agreement(sums, np.eye(len(NEED_LEVELS)))[0])
    return alpha, exact, int(((codes >= 0).sum(axis=1) >= 2).sum())


def _divergences(decisions: pd.DataFrame, median: pd.Series, vignette_ids: np.ndarray,
                 band_by_id: pd.Series) -> pd.DataFrame:
    """The columns of :func:`dsk.analysis.failure_points` that the findings read, for one ruleset:
    the same vignettes in the same order, ``divergence = rule_level - panel_median`` (the lower
    median). Computed here without the rest of the failures table (consensus, quadrants,
    reasons), which the findings do not use and which would cost more than the simulation."""
    level = decisions.drop_duplicates("vignette_id").set_index("vignette_id")["need_level"]
    ids = [v for v in vignette_ids if v in median.index and v in level.index]
    rule_level = level.loc[ids].to_numpy(dtype=np.int64)
    panel_median = median.loc[ids].to_numpy(dtype=float)
    return pd.DataFrame({"vignette_id": ids, "ruleset_id": decisions["ruleset_id"].iloc[0],
                         "rule_level": rule_level, "panel_median": panel_median,
                         "divergence": rule_level - panel_median,
                         "complexity_band": band_by_id.loc[ids].to_numpy(dtype=object)})


def _variant_findings(vignettes: pd.DataFrame, judgements: pd.DataFrame, decisions: pd.DataFrame,
                      teaching_ids: Collection[str], catalogue: Catalogue) -> list[dict[str, object]]:
    from dsk.analysis import divergence_model, median_level

    rows: list[dict[str, object]] = []

    def add(finding: str, stratum: str, value: float, n: int, ruleset: str | None = None) -> None:
        rows.append({"finding": finding, "ruleset": ruleset, "stratum": stratum,
                     "value": float(value), "n": int(n)})

    first = judgements[(judgements["round"] == 1) & (judgements["rater_kind"] != "rules")]
    ids = vignettes["vignette_id"].to_numpy(dtype=object)
    band_of = vignettes["complexity_band"].to_numpy(dtype=object)
    bands = _bands(vignettes)
    codes = _codes(first, ids)
    by_band: dict[str, tuple[float, float]] = {}
    for band in bands:
        alpha, exact, n = _panel_agreement(codes[band_of == band])
        by_band[band] = (alpha, exact)
        add("alpha_ordinal", f"complexity_band={band}", alpha, n)
        add("exact_agreement", f"complexity_band={band}", exact, n)
    if len(bands) >= 2:
        lo, hi = bands[0], bands[-1]
        for i, finding in enumerate(("alpha_ordinal", "exact_agreement")):
            add(finding, _difference(bands), by_band[hi][i] - by_band[lo][i],
                int((np.isin(band_of, [lo, hi])).sum()))
    failures = []
    teaching = set(teaching_ids)
    median = median_level(first)  # the failures table's panel_median, computed once for every ruleset
    band_by_id = vignettes.set_index("vignette_id")["complexity_band"]
    for ruleset_id, own in decisions.groupby("ruleset_id", sort=True):
        table = _divergences(own, median, ids, band_by_id)
        failures.append(table)
        agree = (table["rule_level"] == table["panel_median"]).to_numpy(dtype=bool)
        row_band = table["complexity_band"].to_numpy(dtype=object)
        shares = {}
        for b in bands:
            inside = np.asarray(row_band == b, dtype=bool)
            shares[b] = float(agree[inside].mean()) if inside.any() else np.nan
            add("checklist_exact", f"complexity_band={b}", shares[b], int(inside.sum()), str(ruleset_id))
        if len(bands) >= 2:
            add("checklist_exact", _difference(bands), shares[bands[-1]] - shares[bands[0]],
                int(np.isin(row_band, [bands[0], bands[-1]]).sum()), str(ruleset_id))
        on_teaching = table[table["vignette_id"].isin(teaching)]
        add("teaching_divergent", "all", float((on_teaching["divergence"].abs() >= 1).sum()),
            len(on_teaching), str(ruleset_id))
    model = divergence_model(pd.concat(failures, ignore_index=True), vignettes)
    fitted = set(model["comparison"].str.removesuffix("~panel")) if not model.empty else set()
    n_vignettes = len(vignettes)
    dimensions = [c for c in COMPLEXITY_COLUMNS if c in vignettes.columns]
    for ruleset_id in sorted(decisions["ruleset_id"].unique()):
        part = model[model["comparison"] == f"{ruleset_id}~panel"]
        done = {str(r["stratum"]) for _, r in part.iterrows()}
        for _, row in part.iterrows():
            add("divergence_odds_ratio", str(row["stratum"]), float(row["estimate"]), int(row["n"]),
                str(ruleset_id))
            add("divergence_driver", str(row["stratum"]), float(bool(row["drives_breakdown"])),
                int(row["n"]), str(ruleset_id))
        # dimensions the model could not use (not fitted, or constant): no value
        for dim in dimensions:
            stratum = f"dimension={dim}"
            if stratum not in done:
                n = n_vignettes if ruleset_id in fitted else 0
                add("divergence_odds_ratio", stratum, np.nan, n, str(ruleset_id))
                add("divergence_driver", stratum, np.nan, n, str(ruleset_id))
    return rows


def ablate(vignettes: pd.DataFrame, panel: PanelSpec, *, professions: Mapping[str, ProfessionProfile],
           catalogue: Catalogue, decisions: pd.DataFrame, random_state: int, rounds: int = 1,
           decks: pd.DataFrame | None = None, teaching_ids: Collection[str] | None = None) -> Ablation:
    """The panel's headline findings with each mechanism switched off, and what produces them.

    Parameters
    ----------
    vignettes : the vignettes table.
    panel : a simulated panel (:func:`dsk.panels.load_panel`).
    professions, catalogue : as for :func:`dsk.panels.simulate_panel`.
    decisions : the checklists' decisions (``dsk.rules.evaluate(...).decisions()``), one or more
        rulesets.
    random_state : as for :func:`dsk.panels.simulate_panel`; every variant uses the same draws.
    rounds : passed to the simulation; the findings are read from round 1.
    decks : a deck plan, as for :func:`dsk.panels.simulate_panel`.
    teaching_ids : the teaching cases (default: the vignettes whose id starts with ``wicked-``,
        none if there are none).

    Returns
    -------
    Ablation
        ``findings`` (the ``ablation`` table) and ``summary`` (``ablation_produced_by``).

    Raises
    ------
    ValueError
        When the decisions name vignettes not in the table, or a column the findings need is
        missing.
    """
    from dsk.panels.simulate import simulate_panel

    for column in ("vignette_id", "complexity_band"):
        if column not in vignettes.columns:
            raise ValueError(f"vignettes: column {column!r} missing")
    for column in ("vignette_id", "ruleset_id", "need_level", "defaulted", "conflict"):
        if column not in decisions.columns:
            raise ValueError(f"decisions: column {column!r} missing (expected the decisions table of "
                             "dsk.rules.evaluate(...).decisions())")
    unknown = sorted(set(decisions["vignette_id"]) - set(vignettes["vignette_id"]))
    if unknown:
        raise ValueError(f"decisions: vignettes not in the vignettes table: {', '.join(map(str, unknown[:5]))}")
    if teaching_ids is None:
        teaching_ids = [v for v in vignettes["vignette_id"] if str(v).startswith("wicked-")]
    teaching = tuple(sorted(set(teaching_ids)))
    names = variants()
    tables = {}
    rows = []
    for variant in names:
        judgements = simulate_panel(vignettes, panel, random_state=random_state, rounds=rounds,
                                    professions=professions, catalogue=catalogue, rationale=False,
                                    decks=decks, off=_off(variant))
        tables[variant] = judgements[judgements["round"] == 1].reset_index(drop=True)
        rows += [{"variant": variant, **r}
                 for r in _variant_findings(vignettes, tables[variant], decisions, teaching, catalogue)]
    rows += [{"variant": FULL, **r} for r in _item_reading_share(vignettes, tables[FULL],
                                                                 tables[ITEM_READING_VARIANT])]
    findings = pd.DataFrame(rows, columns=["variant", "finding", "ruleset", "stratum", "value", "n"])
    findings.insert(0, "panel_id", panel.id)
    findings["ruleset"] = _nullable(findings["ruleset"])
    findings = validate(findings, "ablation")
    summary = validate(produced_by(findings), "ablation_produced_by")
    return Ablation(findings, summary, names, teaching)


def _item_reading_share(vignettes: pd.DataFrame, full: pd.DataFrame,
                        items: pd.DataFrame) -> list[dict[str, object]]:
    keys = ["vignette_id", "rater_id"]
    if not full[keys].equals(items[keys]):  # the same draws give the same rows; check rather than trust
        raise ValueError("the full model and the item reading rated different (vignette, rater) pairs")
    same = (full["need_level"].to_numpy() == items["need_level"].to_numpy())
    band = full["vignette_id"].map(vignettes.set_index("vignette_id")["complexity_band"]).to_numpy(dtype=object)
    rows: list[dict[str, object]] = [{"finding": "item_reading_share", "ruleset": None, "stratum": "all",
                                      "value": float(same.mean()) if len(same) else np.nan, "n": len(same)}]
    for b in _bands(vignettes):
        inside = band == b
        rows.append({"finding": "item_reading_share", "ruleset": None, "stratum": f"complexity_band={b}",
                     "value": float(same[inside].mean()) if inside.any() else np.nan,
                     "n": int(inside.sum())})
    return rows


def _produces(finding: str, full: float, without: float) -> bool:
    """Whether switching a mechanism off (``without``) undoes the full model's ``full`` finding."""
    if np.isnan(full):
        return False
    if finding == "divergence_driver":
        return full == 1 and not without == 1  # not a driver any more, or no model
    if finding == "teaching_divergent":
        return not np.isnan(without) and without < full
    if full == 0 or np.isnan(without):
        return False
    return bool(without * full <= 0 or abs(without) <= abs(full) / 2)


def produced_by(findings: pd.DataFrame) -> pd.DataFrame:
    """Which mechanisms produce each finding of the full model (:data:`PRODUCED_BY_RULE`).

    One row per finding of the full model that can be produced: each difference between bands
    (stratum ``complexity_band:...``), each divergence driver of the full model, and each
    ruleset's teaching divergences. Columns: panel_id, finding, ruleset, stratum, value (the
    full model's), item_reading (the item reading alone's), produced_by (mechanism ids, in the
    registry's order).

    Examples
    --------
    A difference of 0.2 that falls to 0.08 without noise (more than half-way to zero) and to
    0.15 without anchoring (less): noise produces it.

    >>> import pandas as pd
    >>> rows = [("full", 0.2), ("without_noise", 0.08), ("without_anchoring", 0.15), ("item_reading", 0.0)]
    >>> findings = pd.DataFrame([{"panel_id": "p", "variant": v, "finding": "alpha_ordinal", "ruleset": None,
    ...                           "stratum": "complexity_band:high-low", "value": x, "n": 10} for v, x in rows])
    >>> produced_by(findings)[["value", "item_reading", "produced_by"]].to_dict("records")
    [{'value': 0.2, 'item_reading': 0.0, 'produced_by': ['noise']}]
    """
    out = []
    order = {m.id: i for i, m in enumerate(MECHANISMS)}
    frame = findings.assign(ruleset=findings["ruleset"].fillna(""))
    for (panel_id, finding, ruleset, stratum), part in frame.groupby(
            ["panel_id", "finding", "ruleset", "stratum"], sort=False):
        difference = str(stratum).startswith("complexity_band:")
        if not (difference or finding in ("divergence_driver", "teaching_divergent")):
            continue
        value = part.set_index("variant")["value"]
        if FULL not in value.index:
            continue
        full = float(value[FULL])
        if finding == "divergence_driver" and full != 1:
            continue  # not a driver of the full model: nothing to produce
        mechanisms = [str(v).removeprefix("without_") for v in value.index if str(v).startswith("without_")
                      and _produces(str(finding), full, float(value[v]))]
        out.append({"panel_id": panel_id, "finding": finding, "ruleset": ruleset or None, "stratum": stratum,
                    "value": full, "item_reading": float(value.get(ITEM_READING_VARIANT, np.nan)),
                    "produced_by": sorted(mechanisms, key=lambda m: order.get(m, len(order)))})
    rank = {name: i for i, name in enumerate(FINDINGS)}
    out.sort(key=lambda r: (str(r["panel_id"]), rank.get(str(r["finding"]), len(rank)), r["ruleset"] or "",
                            str(r["stratum"])))
    table = pd.DataFrame(out, columns=["panel_id", "finding", "ruleset", "stratum", "value", "item_reading",
                                       "produced_by"])
    table["ruleset"] = _nullable(table["ruleset"])
    return table


def _nullable(column: pd.Series) -> pd.Series:
    """A text column whose missing values are None (never NaN), as the table files keep them."""
    return column.astype(object).where(column.notna(), None)
