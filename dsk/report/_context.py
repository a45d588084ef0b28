"""Everything the report template shows, prepared from a run's tables.

Numbers that appear in the text are never copied here: the template asks
:class:`~dsk.report._numbers.NumberSource` for them, so each one carries the key of the
table row it comes from. This module decides *what* to show (which rulesets, bands,
drivers, cases) and draws the plots.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup

from dsk.analysis.failures import taught_codes
from dsk.analysis.learned import OUT_OF_FOLD
from dsk.catalogue import Catalogue
from dsk.report import _plots as plots
from dsk.report._ablation import build_ablation
from dsk.report._drivers import build_drivers
from dsk.report._load import RunData
from dsk.report._numbers import NumberSource, format_value
from dsk.report._sources import OPTIONAL_TEXT, collected, not_collected, panel_sources
from dsk.schema import BANDS, CLEAR_CONSENSUS, QUADRANTS, REASONS

DIMENSIONS = {
    "cx_multiplicity": ("multiplicity", "many needs, from many sources, in several domains"),
    "cx_interconnection": ("interconnection", "needs that amplify each other (toxic trio, "
                           "a parent's difficulty with a very young child)"),
    "cx_network": ("network size", "the number of agencies involved"),
    "cx_conflict": ("conflicting information", "agencies reporting different pictures"),
    "cx_turbulence": ("turbulence", "recent change and unpredictability"),
    "cx_emotional": ("emotional charge", "features that raise anxiety (infants, injuries, "
                     "disclosures)"),
}
QUADRANT_TEXT = {
    "agreed_and_clear": ("agreed, panel clear",
                         f"the panel is clear (consensus at least {CLEAR_CONSENSUS:g}) and the "
                         "checklist gives its median level"),
    "checklist_off_consensus": ("checklist off a clear panel",
                                "the panel is clear but the checklist is a level or more away: "
                                "the checklist's failure"),
    "panel_split": ("panel split",
                    "the panel is not clear, and the checklist gives its median level without "
                    "defaulting or conflict: judgement itself is divided"),
    "both_uncertain": ("both uncertain",
                       "the panel is not clear and the checklist is off, defaulted or "
                       "conflicted"),
}
REASON_TEXT = {
    "defaulted": "no rule fired, so the default level applied",
    "conflict": "the rules that fired point to different levels",
    "cliff": "a one-step change in one factor moves the checklist by a level or more while "
             "the panel's judgement barely moves (judged only where the panel rated enough "
             "cases at both levels)",
    "interaction_missed": "needs that amplify each other are present and the panel is higher "
                          "than the checklist",
    "conflicting_reports": "agencies contradict each other and the panel is split or the "
                           "checklist is off",
    "protective_ignored": "protective factors are present and the panel is lower than the "
                          "checklist",
    "turbulence_missed": "recent change and unpredictability (turbulence) are present and the "
                         "panel is higher than the checklist",
    "uncorroborated": "the only concern is how the family works with professionals, with "
                      "nothing about the child's development, care or surroundings, and the "
                      "panel is lower than the checklist",
}


@dataclass
class Case:
    """One vignette in the teaching gallery."""

    vignette_id: str
    narrative: str
    note: str | None
    band: str
    complexity: float
    rows: list[dict[str, Any]]
    plot: plots.Svg | None
    rationales: list[dict[str, Any]]
    n_raters: int
    #: some checklist is a level or more from the panel's median
    diverges: bool = False
    #: the reason codes the set says the vignette teaches (code and text)
    teaches: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Context:
    """The template's inputs."""

    title: str
    data: RunData
    numbers: NumberSource
    facts: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    """A list cell read from Parquet (array, list or missing) as a list."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return list(value)


def _number(value: Any) -> float | None:
    """A finite number, or None for a missing or non-numeric cell."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _text(value: Any) -> str:
    """A text cell, or "" for a missing one (never the text "nan")."""
    return value.strip() if isinstance(value, str) else ""


def _labels(catalogue: Catalogue) -> dict[str, str]:
    out = {f.id: f.label for f in catalogue.factors}
    out.update({d.id: d.label for d in catalogue.derived})
    out.update({"age_band": "Age band", "disability": "Disability",
                "n_agencies": "Number of agencies involved"})
    out.update({k: v[0].capitalize() for k, v in DIMENSIONS.items()})
    return out


def _level_names(catalogue: Catalogue) -> dict[int, str]:
    names = catalogue.need_levels
    return {int(k): v[1].split(":")[0] for k, v in names.items()}


def pretty_condition(text: str) -> str:
    """A rule condition with mathematical comparison signs.

    >>> pretty_condition("n_concerns >= 2 and housing == 1")
    'n_concerns ≥ 2 and housing = 1'
    """
    return text.replace(">=", "≥").replace("<=", "≤").replace("!=", "≠").replace("==", "=")


def _panel_prefixes(stats: pd.DataFrame) -> list[str]:
    if stats.empty:
        return []
    comps = stats.loc[stats["analysis"] == "agreement", "comparison"].unique()
    return sorted({c[: -len("within-panel")] for c in comps if str(c).endswith("within-panel")})


def _stats_frame(stats: pd.DataFrame, metric: str, comparison: str,
                 analysis: str = "agreement") -> pd.DataFrame:
    if stats.empty:
        return stats
    return stats[(stats["analysis"] == analysis) & (stats["metric"] == metric)
                 & (stats["comparison"] == comparison)]


def _by_band(stats: pd.DataFrame, metric: str, comparison: str, series: str,
             analysis: str = "agreement") -> pd.DataFrame:
    part = _stats_frame(stats, metric, comparison, analysis)
    part = part[part["stratum"].str.startswith("complexity_band=")] if not part.empty else part
    if part.empty:
        return pd.DataFrame(columns=["series", "band", "estimate", "ci_low", "ci_high"])
    return pd.DataFrame({"series": series, "band": part["stratum"].str.split("=").str[1],
                         "estimate": part["estimate"], "ci_low": part["ci_low"],
                         "ci_high": part["ci_high"]})


def _rater_points(stats: pd.DataFrame, judgements: pd.DataFrame, prefix: str,
                  rulesets: list[str]) -> pd.DataFrame:
    """The points of the rules-among-raters plot, read from the stats table.

    Each practitioner's mean exact agreement with the others (``rater:ID~other-raters``,
    ``mean_percent_exact``) and each checklist's with the practitioners
    (``rules:R~raters``, ``rules_mean_percent_exact``), round 1, all vignettes.
    """
    if stats.empty:
        return pd.DataFrame()
    part = stats[(stats["analysis"] == "agreement") & (stats["stratum"] == "all")]
    head, tail = f"{prefix}rater:", "~other-raters"
    raters = part[(part["metric"] == "mean_percent_exact")
                  & part["comparison"].str.startswith(head) & part["comparison"].str.endswith(tail)]
    if raters.empty:
        return pd.DataFrame()
    kinds = judgements.drop_duplicates("rater_id").set_index("rater_id")["profession"] \
        if "profession" in judgements else pd.Series(dtype=object)
    rows = []
    for comparison, mean in zip(raters["comparison"], raters["estimate"], strict=True):
        rater = comparison[len(head):-len(tail)]
        profession = kinds.get(rater)
        rows.append({"label": rater.split(":")[-1],
                     "kind": profession if isinstance(profession, str) else "",
                     "mean": float(mean)})
    for rid in rulesets:
        rule = part[(part["metric"] == "rules_mean_percent_exact")
                    & (part["comparison"] == f"{prefix}rules:{rid}~raters")]
        if not rule.empty:
            rows.append({"label": rid, "kind": "rules", "mean": float(rule["estimate"].iloc[0])})
    return pd.DataFrame(rows)


def _median_key(stats: pd.DataFrame, prefix: str, rulesets: list[str],
                learned_ids: list[str]) -> tuple[Callable[..., dict[str, str]], bool]:
    """Which stats row holds "checklist C gives the panel's median level" (or within one
    level), and whether the run scored its learned checklists out of fold.

    A hand-written checklist's figure is the agreement analysis' row
    (``rules:C~panel-median``) when the run has it, so that the summary and the learned
    checklists' section read the same row. A learned checklist's figure is its out-of-fold
    row (scored by checklists learned without each vignette) when the run has one; an
    older run shows the in-sample row, and the report labels it in-sample;
    ``in_sample=True`` asks for the in-sample row explicitly. Without the agreement
    analysis, or with several panels (the agreement rows are per panel while learned
    checklists are fitted to all of them), the learned-checklists rows are used throughout.
    """
    have = set(zip(stats["analysis"], stats["comparison"], strict=True)) if not stats.empty \
        else set()
    out_of_fold = not stats.empty and \
        bool(((stats["analysis"] == "learned_checklists")
              & (stats["metric"] == f"exact_with_panel_median{OUT_OF_FOLD}")).any())

    def key(checklist: str, stratum: str = "all", within: bool = False,
            in_sample: bool = False) -> dict[str, str]:
        comparison = f"{prefix}rules:{checklist}~panel-median"
        if not prefix and checklist in rulesets and ("agreement", comparison) in have:
            return {"analysis": "agreement",
                    "metric": "percent_within_one" if within else "percent_exact",
                    "comparison": comparison, "stratum": stratum}
        metric = "within_one_of_panel_median" if within else "exact_with_panel_median"
        if checklist in learned_ids and out_of_fold and not in_sample:
            metric += OUT_OF_FOLD
        return {"analysis": "learned_checklists", "metric": metric,
                "comparison": f"{checklist}~panel", "stratum": stratum}

    return key, out_of_fold


def _learned_rules(text: str, level_names: Mapping[int, str]) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {"title": "", "rules": [], "default": None}
    rules = [{"id": r.get("id", ""), "when": pretty_condition(str(r.get("when", ""))),
              "level": r.get("level"), "level_name": level_names.get(int(r.get("level") or 0), ""),
              "because": r.get("because", "")} for r in doc.get("rules", []) or []]
    default = doc.get("default_level")
    return {"title": doc.get("title", ""), "rules": rules, "default": default,
            "default_name": level_names.get(int(default or 0), ""), "hit_policy": doc.get("hit_policy", "")}


def _gallery(data: RunData, level_names: Mapping[int, str], labels: Mapping[str, str],
             profession_labels: Mapping[str, str]) -> list[Case]:
    teaching = data.table("teaching")
    if teaching.empty or "vignette_id" not in teaching:
        return []
    # every checklist's row for a case comes from the failures table, so that a case shows where
    # each checklist agrees as well as where one diverges; the teaching table's own row otherwise
    failures = data.table("failures")
    if failures.empty or "vignette_id" not in failures:
        failures = teaching
    vignettes = data.table("vignettes").set_index("vignette_id")
    taught_column = "teaches" in vignettes.columns
    decisions = data.table("decisions")
    trace = data.table("trace")
    judgements = data.table("judgements")
    people = judgements[judgements["rater_kind"] != "rules"] if not judgements.empty else judgements
    cases = []
    for number, vid in enumerate(dict.fromkeys(teaching["vignette_id"]), start=1):
        if vid not in vignettes.index:
            continue
        vignette = vignettes.loc[vid]
        rows = []
        rule_levels = {}
        teaches = taught_codes(vignette.get("teaches")) if taught_column else []
        own_rows = failures[failures["vignette_id"] == vid]
        if own_rows.empty:
            own_rows = teaching[teaching["vignette_id"] == vid]
        for _, row in own_rows.sort_values("ruleset_id", kind="stable").iterrows():
            rid = row["ruleset_id"]
            decision = decisions[(decisions["vignette_id"] == vid)
                                 & (decisions["ruleset_id"] == rid)]
            decision_row = decision.iloc[0] if not decision.empty else None
            ruleset = data.rulesets.get(rid)
            by_id = {r.id: r for r in ruleset.rules} if ruleset is not None else {}
            own_trace = trace[(trace["vignette_id"] == vid) & (trace["ruleset_id"] == rid)] \
                if not trace.empty else trace
            levels = dict(zip(own_trace.get("rule_id", []), own_trace.get("level", []),
                              strict=True))
            fired = _as_list(decision_row["fired"]) if decision_row is not None else []
            decisive = decision_row["decisive_rule"] if decision_row is not None else None
            fired_rules = []
            for rule_id in fired:
                rule = by_id.get(rule_id)
                level = int(rule.level) if rule is not None else int(levels.get(rule_id, 0))
                fired_rules.append({
                    "id": rule_id, "level": level, "level_name": level_names.get(level, ""),
                    "when": pretty_condition(rule.when) if rule is not None else "",
                    "because": (rule.because or "") if rule is not None else "",
                    "decisive": rule_id == decisive})
            fired_rules.sort(key=lambda r: (not r["decisive"], -r["level"], r["id"]))
            near = []
            if not own_trace.empty and "margin" in own_trace:
                close = own_trace[(~own_trace["fired"].astype(bool))
                                  & (own_trace["margin"].fillna(99) == 1)]
                close = close.sort_values(["level", "rule_id"], ascending=[False, True]).head(3)
                for _, t in close.iterrows():
                    rule = by_id.get(t["rule_id"])
                    near.append({"id": t["rule_id"], "level": int(t["level"]),
                                 "when": pretty_condition(rule.when) if rule is not None else "",
                                 "because": (rule.because or "") if rule is not None else ""})
            rule_levels[rid] = int(row["rule_level"])
            found = [str(c) for c in _as_list(row["reasons"])]
            diverges = bool(abs(float(row["divergence"])) >= 1)
            rows.append({
                "diverges": diverges,
                "for_taught": (diverges and any(c in found for c in teaches)) if teaches else None,
                "ruleset_id": rid,
                "title": ruleset.title if ruleset is not None else rid,
                "version_ok": ruleset is None or decision_row is None
                or ruleset.version == decision_row["ruleset_version"],
                "found": ruleset is not None,
                "rule_level": int(row["rule_level"]),
                "rule_level_name": level_names.get(int(row["rule_level"]), ""),
                "defaulted": bool(decision_row["defaulted"]) if decision_row is not None else False,
                "default_level": ruleset.default_level if ruleset is not None else None,
                "fired": fired_rules,
                "near": near,
                "quadrant": row["quadrant"],
                "quadrant_label": QUADRANT_TEXT.get(row["quadrant"], (row["quadrant"],))[0],
                "reasons": [{"code": c, "text": REASON_TEXT.get(c, ""), "taught": c in teaches}
                            for c in found],
            })
        mine = people[people["vignette_id"] == vid] if not people.empty else people
        counts = {int(str(r)): [int((g["need_level"] == lvl).sum()) for lvl in range(1, 5)]
                  for r, g in mine.groupby("round")} if not mine.empty else {}
        plot = plots.level_distribution(
            counts, rule_levels, slug=f"case-{number}",
            title=f"How the panel's raters placed {vid}{', by round,' if len(counts) > 1 else ''} "
                  "with the checklists' levels",
        ) if counts else None
        first = mine[mine["round"] == 1].sort_values(["need_level", "rater_id"]) \
            if not mine.empty else mine
        # up to four voices: one per level chosen, then other professions, then anyone
        picked: list[pd.Series] = []
        for _, group in first.groupby("need_level", sort=True):
            picked.append(group.iloc[0])
        for new_voice in (True, False):
            for _, extra in first.iterrows():
                if len(picked) >= 4:
                    break
                seen = {p["rater_id"] for p in picked}
                professions = {p.get("profession") for p in picked}
                if extra["rater_id"] not in seen and (
                        not new_voice or extra.get("profession") not in professions):
                    picked.append(extra)
        picked = sorted(picked[:4], key=lambda r: (int(r["need_level"]), str(r["rater_id"])))
        rationales = [{
            "who": profession_labels.get(r["profession"], r["profession"])
            if isinstance(r.get("profession"), str) else str(r["rater_id"]),
            "level": int(r["need_level"]),
            "level_name": level_names.get(int(r["need_level"]), ""),
            "confidence": _number(r.get("confidence")),
            "text": _text(r.get("rationale")),
            "factors": [labels.get(f, f) for f in _as_list(r.get("salient_factors"))],
        } for r in picked]
        note = vignette.get("note") if "note" in vignettes.columns else None
        cases.append(Case(
            vignette_id=vid,
            narrative=str(vignette.get("narrative") or ""),
            note=note if isinstance(note, str) and note.strip() else None,
            band=str(vignette.get("complexity_band", "")),
            complexity=float(vignette.get("complexity", np.nan)),
            rows=rows, plot=plot, rationales=rationales,
            n_raters=int(mine.loc[mine["round"] == 1, "rater_id"].nunique())
            if not mine.empty else 0,
            diverges=any(r["diverges"] for r in rows),
            teaches=[{"code": c, "text": REASON_TEXT.get(c, "")} for c in teaches]))
    return cases


def _gallery_facts(manifest: Mapping[str, Any], cases: list[Case]) -> dict[str, Any]:
    """What the gallery's sentences say: cases asked for and shown, divergent and agreeing.

    ``asked`` is the config's ``teaching_cases`` (None when the manifest has no config), and
    ``note`` the sentence for a config that asks for more cases than the vignettes hold (the
    teaching table then holds every vignette, :func:`dsk.analysis.teaching_cases`).
    """
    config = manifest.get("config") or {}
    raw = config.get("teaching_cases")
    asked = int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    shown = len(cases)
    divergent = sum(c.diverges for c in cases)
    note = (f"The config asks for {asked} teaching cases; the vignettes hold {shown}, all shown."
            if asked is not None and shown and asked > shown else "")
    taught = [c for c in cases if c.teaches]
    return {"asked": asked, "shown": shown, "divergent": divergent, "agreeing": shown - divergent,
            "note": note, "taught": len(taught),
            "for_taught": sum(any(r["for_taught"] for r in c.rows) for c in taught)}


def _professions(data: RunData) -> dict[str, Any]:
    from dsk.panels import ProfessionProfile

    profiles = data.professions  # the run's own copy, inputs/professions.yaml
    if not profiles:
        return {"columns": [], "rows": [], "labels": {}}
    judgements = data.table("judgements")
    used = set(judgements["profession"].dropna()) if "profession" in judgements else set()
    chosen = [p for p in profiles.values() if p.id in used] or list(profiles.values())
    rows = []
    skip = {"id", "label", "agency", "voice", "lens", "trust"}
    fields = ProfessionProfile.model_fields
    rows.append({"name": "agency", "description": fields["agency"].description or "",
                 "values": [p.agency for p in chosen]})
    for domain in chosen[0].lens:
        rows.append({"name": f"lens: {domain}",
                     "description": (fields["lens"].description or "") if domain == next(
                         iter(chosen[0].lens)) else "",
                     "values": [f"{p.lens[domain]:g}" for p in chosen]})
    rows.append({"name": "trust", "description": fields["trust"].description or "",
                 "values": [", ".join(f"{k} {v:g}" for k, v in sorted(p.trust.items())) or "1"
                            for p in chosen]})
    for name, info in fields.items():
        if name in skip:
            continue
        rows.append({"name": name, "description": info.description or "",
                     "values": [f"{getattr(p, name):g}" for p in chosen]})
    return {"columns": [p.id for p in chosen], "rows": rows,
            "labels": {p.id: p.label for p in profiles.values()}}


#: The measures a statement about agreement across complexity bands must agree on, with
#: their names in the report.
TREND_MEASURES = (
    ("krippendorff_alpha_ordinal", "Krippendorff's α"),
    ("percent_exact", "exact agreement"),
    ("gwet_ac2_quadratic", "Gwet's AC2"),
)

#: value(metric, stratum, column) -> the number, or None where the stats table has none.
Lookup = Callable[[str, str, str], "float | None"]
#: show(metric, stratum, column, fmt) -> the number as the report shows it.
Show = Callable[[str, str, str, str], str]


def _plain_show(value: Lookup) -> Show:
    def show(metric: str, stratum: str, column: str, fmt: str) -> str:
        number = value(metric, stratum, column)
        return "n/a" if number is None else format_value(number, fmt)
    return show


def _went(change: float) -> str:
    return "went down" if change < 0 else ("went up" if change > 0 else "stayed")


def band_sentence(value: Lookup, low: str = "low", high: str = "high",
                  show: Show | None = None) -> tuple[str, str]:
    """What the report may say about agreement from the ``low`` to the ``high`` band.

    Reads, for each of :data:`TREND_MEASURES`, the estimate in both bands
    (strata ``complexity_band=low`` and ``=high``) and the 95% bootstrap interval
    of the difference (stratum ``complexity_band:high-low``, from one resample
    shared by both bands), and the variance of the levels in both bands
    (``level_variance``). Returns ``(kind, sentence)``:

    - ``"falls"`` or ``"rises"``: all three measures move the same way *and*
      the interval of each difference excludes 0; only then does the sentence
      say that agreement falls (or rises) with complexity.
    - ``"mixed"``: the measures move in different directions; the sentence
      says what each shows and why they can differ (α and the kappas depend on
      the spread of the levels, which differs between the bands: restricted
      range).
    - ``"unclear"``: the measures move the same way but an interval includes 0
      (or there is none, without a bootstrap): the sentence says the data do
      not show a change.
    - ``"unknown"``: a measure is missing; the sentence is empty.

    ``show(metric, stratum, column, fmt)`` renders a number (the report passes
    checkable spans); by default the value itself, rounded.

    Examples
    --------
    >>> rows = {("krippendorff_alpha_ordinal", "complexity_band=low"): 0.66,
    ...         ("krippendorff_alpha_ordinal", "complexity_band=high"): 0.22,
    ...         ("percent_exact", "complexity_band=low"): 0.49,
    ...         ("percent_exact", "complexity_band=high"): 0.76,
    ...         ("gwet_ac2_quadratic", "complexity_band=low"): 0.63,
    ...         ("gwet_ac2_quadratic", "complexity_band=high"): 0.93,
    ...         ("level_variance", "complexity_band=low"): 1.45,
    ...         ("level_variance", "complexity_band=high"): 0.33}
    >>> def value(metric, stratum, column):
    ...     return rows.get((metric, stratum)) if column == "estimate" else None
    >>> kind, text = band_sentence(value)
    >>> kind
    'mixed'
    >>> print(text[:106])
    The measures disagree between low- and high-complexity cases: Krippendorff's α went down from 0.66 to 0.22
    >>> falling = {**rows, ("percent_exact", "complexity_band=high"): 0.30,
    ...            ("gwet_ac2_quadratic", "complexity_band=high"): 0.40}
    >>> def value(metric, stratum, column):
    ...     if column != "estimate":
    ...         return -0.2 if column == "ci_high" else -0.5
    ...     return falling.get((metric, stratum))
    >>> band_sentence(value)[0]
    'falls'
    >>> band_sentence(value)[1][:31]
    'Agreement falls with complexity'
    """
    show = show or _plain_show(value)
    lo_s, hi_s = f"complexity_band={low}", f"complexity_band={high}"
    diff_s = f"complexity_band:{high}-{low}"
    change: dict[str, float] = {}
    for metric, _ in TREND_MEASURES:
        a, b = value(metric, lo_s, "estimate"), value(metric, hi_s, "estimate")
        if a is None or b is None:
            return "unknown", ""
        change[metric] = b - a
    signs = {int(np.sign(c)) for c in change.values()}

    def moves(metric: str, name: str, verb: bool | str = True) -> str:
        went = f"{_went(change[metric])} " if verb is True else (verb or "")
        return (f"{name} {went}from {show(metric, lo_s, 'estimate', 'f2')} "
                f"to {show(metric, hi_s, 'estimate', 'f2')}")

    def interval(metric: str, name: str) -> str:
        return (f"{name} ({show(metric, diff_s, 'ci_low', 'f2')} to "
                f"{show(metric, diff_s, 'ci_high', 'f2')})")

    def difference(metric: str, name: str) -> str:
        text = f"{name} {show(metric, diff_s, 'estimate', 'f2')}"
        if value(metric, diff_s, "ci_low") is None:
            return text
        return (f"{text} ({show(metric, diff_s, 'ci_low', 'f2')} to "
                f"{show(metric, diff_s, 'ci_high', 'f2')})")

    def series(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    bands = f"from {low}- to {high}-complexity cases"
    if len(signs) > 1:
        (first, first_name), *rest = TREND_MEASURES
        others = " and ".join(moves(m, n) for m, n in rest)
        v_lo = value("level_variance", lo_s, "estimate")
        v_hi = value("level_variance", hi_s, "estimate")
        spread = ""
        if v_lo is not None and v_hi is not None and v_lo != v_hi:
            spread = (f" The spread of the levels {'narrows' if v_hi < v_lo else 'widens'} "
                      f"{bands} (variance of the levels "
                      f"{show('level_variance', lo_s, 'estimate', 'f2')} against "
                      f"{show('level_variance', hi_s, 'estimate', 'f2')})")
            spread += (": where levels bunch at one value, the agreement expected by chance is "
                       "high, so α falls even when practitioners agree as often."
                       if v_hi < v_lo else ".")
        diffs = series([difference(m, n) for m, n in TREND_MEASURES])
        has_ci = value(first, diff_s, "ci_low") is not None
        text = (f"The measures disagree between {low}- and {high}-complexity cases: "
                f"{moves(first, first_name)}, while {others} (differences, {high} minus "
                f"{low}{', with 95% intervals' if has_ci else ''}: {diffs}). They can differ "
                "because α, like the kappas, credits only the agreement beyond what the spread "
                "of the levels makes likely by chance, while exact agreement counts matching "
                "pairs of ratings and AC2 is much less affected by how the levels spread."
                f"{spread} Which way agreement moves with complexity therefore depends on the "
                "measure, and this report claims neither direction.")
        return "mixed", text
    sign = signs.pop()
    excludes = {}
    for metric, _ in TREND_MEASURES:
        lo, hi = value(metric, diff_s, "ci_low"), value(metric, diff_s, "ci_high")
        excludes[metric] = lo is not None and hi is not None and (lo > 0 or hi < 0)
    listed = series([moves(m, n, verb=False) for m, n in TREND_MEASURES])
    if sign != 0 and all(excludes.values()):
        kind = "falls" if sign < 0 else "rises"
        went_list = series([moves(m, n, verb="went " if i == 0 else False)
                            for i, (m, n) in enumerate(TREND_MEASURES)])
        intervals = series([interval(m, n) for m, n in TREND_MEASURES])
        return kind, (f"Agreement {kind} with complexity: {bands} {went_list}, "
                      f"and the 95% interval of each difference ({high} minus {low}) excludes 0: "
                      f"{intervals}.")
    have = [(m, n) for m, n in TREND_MEASURES if value(m, diff_s, "ci_low") is not None]
    if sign == 0:
        why = ""
    elif not have:
        why = (", but without bootstrap intervals for the differences these data cannot show "
               "a change")
    else:
        including = [(m, n) for m, n in have if not excludes[m]]
        why = (f", but the 95% interval of the difference ({high} minus {low}) includes 0 for "
               + series([interval(m, n) for m, n in including])
               + ", so these data do not show that agreement changes with complexity")
    word = "all went down" if sign < 0 else ("all went up" if sign > 0 else "stayed the same")
    return "unclear", f"{bands[0].upper()}{bands[1:]}, the three measures {word} ({listed}){why}."


#: An α below this beside exact agreement of at least RESTRICTED_EXACT gets the sentence on
#: restricted range (most ratings at one level, so chance agreement is high).
RESTRICTED_ALPHA = 0.2
RESTRICTED_EXACT = 0.6


def _restricted_range(numbers: NumberSource, people: pd.DataFrame,
                      prefixes: list[str]) -> dict[str, dict[str, Any]]:
    """Per panel whose α is near zero although exact agreement is high: the most used level
    and the key of the judgements rows that give its share."""
    out: dict[str, dict[str, Any]] = {}
    for prefix in prefixes:
        key = {"analysis": "agreement", "comparison": f"{prefix}within-panel", "stratum": "all"}
        alpha = numbers.value("stats", {**key, "metric": "krippendorff_alpha_ordinal"})
        exact = numbers.value("stats", {**key, "metric": "percent_exact"})
        if alpha is None or exact is None or not (alpha < RESTRICTED_ALPHA
                                                  and exact >= RESTRICTED_EXACT):
            continue
        rows = people[people["round"] == 1]
        if prefix:
            rows = rows[rows["panel_id"].astype(str) == prefix.rstrip("/")]
        if rows.empty:
            continue
        kind = str(rows["rater_kind"].mode().iloc[0])
        rows = rows[rows["rater_kind"] == kind]
        counts = rows["need_level"].value_counts().sort_index()
        level = int(counts.index[int(np.argmax(counts.to_numpy()))])
        row_key: dict[str, Any] = {"rater_kind": kind, "round": 1}
        if prefix:
            row_key["panel_id"] = prefix.rstrip("/")
        out[prefix] = {"level": level, "key": row_key}
    return out


#: What each bootstrap scheme's intervals speak to.
SCHEME_TEXT = {
    "two-way": "resampling vignettes and practitioners, so the intervals speak to new "
               "practitioners like these on new cases like these",
    "fixed-raters": "resampling vignettes only, with the practitioners held fixed, so the "
                    "intervals speak to these practitioners on new cases like these (not to "
                    "other practitioners)",
}


def _bootstrap_facts(manifest: Mapping[str, Any], stats: pd.DataFrame) -> dict[str, Any]:
    """The run's bootstrap: replicates, scheme (older runs: two-way) and failed replicates.

    ``failed`` is the largest number of replicates without a value on any agreement row;
    ``failed_rows`` the number of rows with any.
    """
    config = manifest.get("config") or {}
    scheme = str(config.get("bootstrap_scheme") or "two-way")
    failed = pd.Series(dtype=float)
    if not stats.empty and "boot_failed" in stats.columns:
        failed = pd.to_numeric(stats.loc[stats["analysis"] == "agreement", "boot_failed"],
                               errors="coerce").dropna()
    return {"replicates": int(config.get("bootstrap") or 0), "scheme": scheme,
            "population": SCHEME_TEXT.get(scheme, scheme),
            "failed": int(failed.max()) if not failed.empty else 0,
            "failed_rows": int((failed > 0).sum()),
            "recorded": not failed.empty}


def _no_overlap(stats: pd.DataFrame, prefixes: list[str]) -> dict[str, dict[str, Any]]:
    """Per panel: the pairs of professions that rated no vignette in common (metric
    ``no_overlap``), over all vignettes, and how many strata had such a pair."""
    from dsk.analysis.comparisons import NO_OVERLAP

    out: dict[str, dict[str, Any]] = {}
    if stats.empty:
        return out
    rows = stats[(stats["analysis"] == "agreement") & (stats["metric"] == NO_OVERLAP)]
    # pairs of professions only (a rater's rows, rater:ID~... and rules:R~ID, carry a colon)
    rows = rows[~rows["comparison"].str.replace(r"^[^/]*/", "", regex=True).str.contains(":")]
    for prefix in prefixes or [""]:
        mine = rows[rows["comparison"].str.startswith(prefix)] if prefix else rows[
            ~rows["comparison"].str.contains("/", regex=False)]
        if mine.empty:
            continue
        overall = [str(c)[len(prefix):].split("~") for c in mine.loc[mine["stratum"] == "all",
                                                                      "comparison"]]
        strata = sorted(set(mine.loc[mine["stratum"] != "all", "stratum"]))
        out[prefix] = {"pairs": overall, "strata": strata}
    return out


def _profession_pairs(stats: pd.DataFrame, prefixes: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per panel: the pairs of professions that rated vignettes in common (over all vignettes),
    whose agreement the report shows with the number of shared vignettes."""
    out: dict[str, list[tuple[str, str]]] = {}
    if stats.empty:
        return out
    rows = stats[(stats["analysis"] == "agreement") & (stats["metric"] == "group_kappa_quadratic")
                 & (stats["stratum"] == "all")]
    for prefix in prefixes or [""]:
        pairs = []
        for comparison in rows["comparison"]:
            rest = str(comparison)[len(prefix):] if str(comparison).startswith(prefix) else None
            if rest is None or "/" in rest or ":" in rest or rest.count("~") != 1:
                continue
            a, b = rest.split("~")
            pairs.append((a, b))
        if pairs:
            out[prefix] = sorted(pairs)
    return out


def _parameters(section: Any) -> list[tuple[str, str]]:
    """A manifest section (``design``, ``decks``) as (key, text) rows; empty when absent."""
    if not isinstance(section, Mapping):
        return []
    rows = []
    for key, value in section.items():
        if value is None:
            continue
        if isinstance(value, float):
            text = f"{value:.4g}" if np.isfinite(value) else "not computed"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        rows.append((str(key).replace("_", " "), text))
    return rows


def build_context(data: RunData) -> Context:
    """Decide what the report shows and draw its plots."""
    stats = data.table("stats")
    numbers = NumberSource(data.tables)
    manifest = data.manifest
    labels = _labels(data.catalogue)
    level_names = _level_names(data.catalogue)
    decisions = data.table("decisions")
    vignettes = data.table("vignettes")
    judgements = data.table("judgements")
    failures = data.table("failures")
    importance = data.table("importance")
    rulesets = sorted(decisions["ruleset_id"].unique()) if "ruleset_id" in decisions else []
    analyses = set(stats["analysis"].unique()) if not stats.empty else set()
    prefixes = _panel_prefixes(stats)
    facts: dict[str, Any] = {
        "rulesets": rulesets,
        "ruleset_titles": {rid: (data.rulesets[rid].title if rid in data.rulesets else rid)
                           for rid in rulesets},
        "panels": [{"prefix": p, "name": p.rstrip("/") or "the panel"} for p in prefixes],
        "analyses": analyses,
        "n_vignettes": int(len(vignettes)),
        "bands": [b for b in BANDS if "complexity_band" in vignettes
                  and (vignettes["complexity_band"] == b).any()],
        "dimensions": DIMENSIONS,
        "quadrants": QUADRANTS,
        "quadrant_text": QUADRANT_TEXT,
        "reasons": {code: REASON_TEXT[code] for code in REASONS},
        "level_names": level_names,
        "clear_consensus": CLEAR_CONSENSUS,
        "labels": labels,
    }
    people = judgements[judgements["rater_kind"] != "rules"] if not judgements.empty else judgements
    kinds = set(people["rater_kind"]) if not people.empty else set()
    facts["simulated"] = "simulated" in kinds
    facts["human"] = "human" in kinds
    humans = people[people["rater_kind"] == "human"] if not people.empty else people
    facts["not_collected"] = [OPTIONAL_TEXT[c] for c in not_collected(humans)]
    facts["has"] = {c: not people.empty and c in people.columns and collected(people[c])
                    for c in OPTIONAL_TEXT}
    facts["n_raters"] = int(people["rater_id"].nunique()) if not people.empty else 0
    facts["rounds"] = sorted(int(r) for r in people["round"].unique()) if not people.empty else []
    facts["panel_ids"] = sorted(people["panel_id"].dropna().astype(str).unique()) \
        if not people.empty else []
    # what the report may say about agreement from the lowest to the highest band
    sentences: dict[str, tuple[str, Markup]] = {}
    for prefix in prefixes:
        if len(facts["bands"]) < 2:
            break
        key = {"analysis": "agreement", "comparison": f"{prefix}within-panel"}

        def value(metric: str, stratum: str, column: str, key: dict[str, str] = key) -> float | None:
            return numbers.value("stats", {**key, "metric": metric, "stratum": stratum}, column)

        def show(metric: str, stratum: str, column: str, fmt: str,
                 key: dict[str, str] = key) -> str:
            return str(numbers.span("stats", {**key, "metric": metric, "stratum": stratum},
                                    column, fmt))

        kind, text = band_sentence(value, facts["bands"][0], facts["bands"][-1], show)
        if text:
            # the text is fixed words, band names and the checkable spans of numbers
            sentences[prefix] = (kind, Markup(text))
    facts["band_sentences"] = sentences
    facts["band_pairs"] = [f"complexity_band:{later}-{earlier}"
                           for j, later in enumerate(facts["bands"])
                           for earlier in facts["bands"][:j]]
    facts["bootstrap"] = _bootstrap_facts(manifest, stats)
    facts["restricted"] = _restricted_range(numbers, people, prefixes)
    facts["restricted_alpha"], facts["restricted_exact"] = RESTRICTED_ALPHA, RESTRICTED_EXACT
    facts["no_overlap"] = _no_overlap(stats, prefixes)
    facts["profession_pairs"] = _profession_pairs(stats, prefixes)
    facts["has_round2"] = any(
        not _stats_frame(stats, "krippendorff_alpha_ordinal", f"{p}within-panel:round2").empty
        for p in prefixes)
    # agreement: which tertile strata exist per dimension
    if not stats.empty:
        strata = set(stats.loc[stats["analysis"] == "agreement", "stratum"])
        facts["tertiles"] = {d: [t for t in ("tertile1", "tertile2", "tertile3")
                                 if f"{d}={t}" in strata] for d in DIMENSIONS}
    else:
        facts["tertiles"] = {}
    # divergence model: per ruleset, the dimensions significant after Holm's correction across
    # the model's dimensions (p_holm; older runs without it: p_value, and the text says so)
    divergence: dict[str, dict[str, list[str]]] = {}
    model_rows = []
    holm = "p_holm" in stats.columns
    if "divergence_model" in analyses:
        model = stats[stats["analysis"] == "divergence_model"]
        for rid in rulesets:
            part = model[model["comparison"] == f"{rid}~panel"]
            if part.empty:
                continue
            p_used = part["p_holm"] if holm else part["p_value"]
            sig = p_used < 0.05
            nominal = (part["p_value"] < 0.05) & ~sig
            divergence[rid] = {
                "more": list(part.loc[sig & (part["estimate"] > 1), "stratum"]),
                "less": list(part.loc[sig & (part["estimate"] < 1), "stratum"]),
                "nominal": list(part.loc[nominal, "stratum"]),
            }
            for (_, row), significant in zip(part.iterrows(), sig, strict=True):
                model_rows.append({"ruleset": rid, "dimension": row["stratum"].split("=", 1)[1],
                                   "stratum": row["stratum"], "estimate": row["estimate"],
                                   "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                                   "significant": bool(significant and row["estimate"] > 1),
                                   "protective": bool(significant and row["estimate"] < 1)})
    facts["divergence"] = divergence
    facts["holm"] = holm
    facts["n_dimensions"] = {rid: sum(r["ruleset"] == rid for r in model_rows) for rid in divergence}
    facts["model_rows"] = model_rows
    # failures: reason code counts (plain numbers, from the table)
    reason_counts: dict[str, dict[str, int]] = {}
    facts["failure_n"] = {}
    if not failures.empty:
        for rid, part in failures.groupby("ruleset_id", sort=True):
            codes = [c for r in part["reasons"] for c in _as_list(r)]
            reason_counts[str(rid)] = {c: codes.count(c) for c in REASONS}
        facts["failure_n"] = {str(k): int(v) for k, v in
                              failures.groupby("ruleset_id").size().items()}
    facts["reason_counts"] = reason_counts
    # explanations
    facts["shap_rulesets"] = [rid for rid in rulesets if not importance.empty
                              and (importance["ruleset_id"] == rid).any()]
    # learned checklists
    learned_ids = sorted(data.learned)
    fidelity = stats[stats["analysis"] == "learned_checklists"] if not stats.empty else stats
    fid_ids = list(dict.fromkeys(c.removesuffix("~panel") for c in fidelity["comparison"])) \
        if not fidelity.empty else []
    learned_ids = sorted(set(learned_ids) | {c for c in fid_ids if c not in rulesets})
    facts["learned_ids"] = learned_ids
    facts["hand_ids"] = [c for c in fid_ids if c in rulesets]
    median_key, out_of_fold = _median_key(stats, prefixes[0] if prefixes else "", rulesets, learned_ids)
    facts["median_key"] = median_key
    facts["learned_scoring"] = "out of fold" if out_of_fold else "in-sample"
    best = None
    if not fidelity.empty:
        shown = fidelity["comparison"].map(lambda c: median_key(c.removesuffix("~panel"))["metric"])
        overall = fidelity[(fidelity["metric"] == shown) & (fidelity["stratum"] == "all")]
        learned_overall = overall[overall["comparison"].isin([f"{i}~panel" for i in learned_ids])]
        if not learned_overall.empty:
            by_fidelity = learned_overall.assign(
                size=learned_overall["comparison"].map(
                    lambda c: len(_learned_rules(data.learned.get(c.removesuffix("~panel"), ""),
                                                 level_names)["rules"])))
            by_fidelity = by_fidelity.sort_values(["estimate", "size", "comparison"],
                                                  ascending=[False, True, True])
            best = by_fidelity.iloc[0]["comparison"].removesuffix("~panel")
    facts["best_learned"] = best
    facts["learned"] = {i: _learned_rules(data.learned[i], level_names) for i in learned_ids
                        if i in data.learned}
    facts["fidelity_bands"] = [s for s in ("all", *(f"complexity_band={b}" for b in BANDS))
                               if not fidelity.empty and (fidelity["stratum"] == s).any()]
    facts["professions"] = _professions(data)
    facts["drivers"] = build_drivers(data.tables, labels, facts["professions"]["labels"], facts["ruleset_titles"])
    facts["sources"] = panel_sources(data, people, facts["professions"]["labels"])
    facts["ablation"] = build_ablation(data.tables, {k: v[0] for k, v in DIMENSIONS.items()},
                                       facts["ruleset_titles"])
    facts["design"] = _parameters(manifest.get("design"))
    facts["decks"] = _parameters(manifest.get("decks"))
    facts["cases"] = _gallery(data, level_names, labels, facts["professions"]["labels"])
    facts["gallery"] = _gallery_facts(manifest, facts["cases"])
    facts["manifest_config"] = json.dumps(manifest.get("config", {}), indent=2)

    figures: dict[str, Any] = {}
    # the panel's agreement by band: α beside exact agreement and AC2 (restricted range), and
    # α after deliberation
    after = ", round 1" if facts["has_round2"] else ""
    measures = [("krippendorff_alpha_ordinal", f"α{after}"),
                ("percent_exact", f"exact{after}"),
                ("gwet_ac2_quadratic", f"AC2{after}")]
    alpha = pd.concat([
        _by_band(stats, metric, f"{p}within-panel", f"{p}{label}" if len(prefixes) > 1 else label)
        for p in prefixes for metric, label in measures
    ] + [
        _by_band(stats, "krippendorff_alpha_ordinal", f"{p}within-panel:round2",
                 f"{p}α, round 2" if len(prefixes) > 1 else "α, round 2") for p in prefixes
    ], ignore_index=True) if prefixes else pd.DataFrame()
    exact = pd.concat([
        _by_band(stats, "percent_exact", f"{prefixes[0]}rules:{rid}~panel-median", rid)
        for rid in rulesets
    ], ignore_index=True) if prefixes and rulesets else pd.DataFrame()
    alpha = alpha.dropna(subset=["estimate"]) if not alpha.empty else alpha
    exact = exact.dropna(subset=["estimate"]) if not exact.empty else exact
    figures["bands"] = plots.agreement_by_band(
        alpha, exact, left=("Agreement among practitioners", "coefficient or share"))
    figures["rules_as_rater"] = None
    if "agreement" in analyses and rulesets and prefixes:
        figures["rules_as_rater"] = plots.rules_among_raters(
            _rater_points(stats, judgements, prefixes[0], rulesets))
    figures["shap"] = {rid: plots.shap_side_by_side(importance[importance["ruleset_id"] == rid],
                                                    labels, rid, slug=f"shap-{i}")
                       for i, rid in enumerate(facts["shap_rulesets"], start=1)}
    figures["forest"] = plots.forest(pd.DataFrame(model_rows), labels) if model_rows else None
    figures["quadrants"] = plots.quadrant_map(failures, CLEAR_CONSENSUS) \
        if not failures.empty else None
    fid_rows = []
    if not fidelity.empty:
        for _, row in fidelity[fidelity["metric"] == "exact_with_panel_median"].iterrows():
            checklist = row["comparison"].removesuffix("~panel")
            # the same row the text reads for this checklist and stratum
            estimate = numbers.value("stats", median_key(checklist, row["stratum"]))
            fid_rows.append({"checklist": checklist, "band": row["stratum"].split("=")[-1],
                             "estimate": np.nan if estimate is None else estimate})
    order = {c: i for i, c in enumerate([*facts["hand_ids"], *learned_ids])}
    fid_frame: pd.DataFrame = pd.DataFrame(fid_rows)
    if not fid_frame.empty:
        fid_frame = fid_frame.sort_values("checklist", key=lambda s: s.map(order), kind="stable")
    figures["fidelity"] = plots.fidelity_by_band(fid_frame, learned_ids)
    title = manifest.get("title") or (manifest.get("config") or {}).get("title") or data.run_dir.name
    return Context(title=title, data=data, numbers=numbers, facts=facts, figures=figures)


def stratum_label(stratum: str) -> str:
    """Plain words for a stratum label.

    >>> stratum_label("complexity_band=high"), stratum_label("cx_network=tertile3")
    ('high complexity', 'network size, top third')
    >>> stratum_label("complexity_band:high-low")
    'high minus low complexity'
    """
    if stratum == "all":
        return "all vignettes"
    if stratum.startswith("complexity_band:"):
        later, _, earlier = stratum.split(":", 1)[1].partition("-")
        return f"{later} minus {earlier} complexity"
    key, _, value = stratum.partition("=")
    if key == "complexity_band":
        return f"{value} complexity"
    if key == "dimension":
        return DIMENSIONS.get(value, (value,))[0]
    if key in DIMENSIONS:
        third = {"tertile1": "bottom third", "tertile2": "middle third",
                 "tertile3": "top third"}.get(value, value)
        return f"{DIMENSIONS[key][0]}, {third}"
    return re.sub(r"[_=]", " ", stratum)


