"""The methods-appendix part "Which assumption produces which finding", from the ablation tables.

The run's ``ablation`` table (:mod:`dsk.panels.ablate`) holds each simulated panel's headline
findings with the full model, with each mechanism switched off in turn and with the item
reading alone; ``ablation_produced_by`` says which mechanisms produce each finding. This
module decides what the part shows; every number in it is a checkable span of the
``ablation`` table (the template asks :class:`~dsk.report._numbers.NumberSource` with the keys
built here), and the words about drivers and mechanisms are read from the same tables.

The mechanisms' descriptions, support and sources come from
:data:`dsk.panels.mechanisms.MECHANISMS`, the registry the simulator switches off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dsk.panels.ablate import FINDINGS, FULL, ITEM_READING_VARIANT, PRODUCED_BY_RULE
from dsk.panels.mechanisms import ITEM_READING, MECHANISMS, MECHANISMS_BY_ID, Mechanism
from dsk.schema import BANDS

__all__ = ["build_ablation"]

#: The findings shown as a table of variants by strata, with their display format and title.
TABLES = (
    ("alpha_ordinal", "f2", "Agreement among practitioners by band: Krippendorff's α (ordinal)"),
    ("exact_agreement", "pct0", "Agreement among practitioners by band: exact agreement (share of "
                                "agreeing pairs)"),
    ("checklist_exact", "pct0", "Checklist against the panel by band: share of vignettes at the "
                                "panel median"),
    ("teaching_divergent", "int", "Divergence on the teaching cases: cases a level or more from the "
                                  "panel median"),
)


def _mechanism(m: Mechanism) -> dict[str, Any]:
    return {"id": m.id, "label": m.label, "does": m.does, "support": m.support,
            "sources": [{"citation": s.citation, "measured": s.measured, "not_shown": s.not_shown}
                        for s in m.sources],
            "assumption": m.assumption, "parameters": list(m.parameters)}


def _variants(part: pd.DataFrame) -> list[dict[str, Any]]:
    """The variants in the table's order, with plain labels and the mechanism's support."""
    out = []
    for variant in dict.fromkeys(part["variant"]):
        if variant == FULL:
            out.append({"id": variant, "label": "full model", "support": None})
        elif variant == ITEM_READING_VARIANT:
            out.append({"id": variant, "label": "item reading alone", "support": None})
        else:
            m = MECHANISMS_BY_ID.get(str(variant).removeprefix("without_"))
            label = f"without: {m.label[0].lower()}{m.label[1:]}" if m else str(variant)
            out.append({"id": variant, "label": label, "support": m.support if m else None})
    return out


def _stratum_order(stratum: str) -> tuple[int, str]:
    band = stratum.removeprefix("complexity_band=")
    return (BANDS.index(band), "") if band in BANDS else (len(BANDS), stratum)


def _stratum_label(stratum: str) -> str:
    if stratum.startswith("complexity_band="):
        return stratum.removeprefix("complexity_band=")
    if stratum.startswith("complexity_band:"):
        later, _, earlier = stratum.removeprefix("complexity_band:").partition("-")
        return f"{later} − {earlier}"
    if stratum == "all":
        return "teaching cases"
    return stratum


def _key(panel_id: str, variant: str, finding: str, ruleset: str | None, stratum: str) -> dict[str, Any]:
    key = {"panel_id": panel_id, "variant": variant, "finding": finding, "stratum": stratum}
    if ruleset:
        key["ruleset"] = ruleset  # panel-wide findings have no ruleset, and no ruleset in the key
    return key


def _finding_table(part: pd.DataFrame, panel_id: str, finding: str, fmt: str, title: str,
                   variants: list[dict[str, Any]], ruleset_titles: Mapping[str, str]) -> dict[str, Any] | None:
    rows = part[part["finding"] == finding]
    if rows.empty:
        return None
    pairs = rows[["ruleset", "stratum"]].drop_duplicates()
    pairs = pairs.assign(ruleset=pairs["ruleset"].where(pairs["ruleset"].notna(), None))
    columns = sorted(((r if isinstance(r, str) else None, str(s)) for r, s in pairs.itertuples(index=False)),
                     key=lambda c: (c[0] or "", _stratum_order(c[1])))
    head = [{"ruleset": r, "ruleset_title": ruleset_titles.get(r, r) if r else None,
             "stratum": s, "label": _stratum_label(s)} for r, s in columns]
    body = [{"variant": v, "cells": [_key(panel_id, v["id"], finding, r, s) for r, s in columns]}
            for v in variants]
    return {"finding": finding, "title": title, "fmt": fmt, "columns": head, "rows": body,
            "rulesets": list(dict.fromkeys(r for r, _ in columns if r))}


def _drivers(part: pd.DataFrame, variants: list[dict[str, Any]], labels: Mapping[str, str]) -> dict[str, Any] | None:
    rows = part[part["finding"] == "divergence_driver"]
    if rows.empty:
        return None
    rulesets = sorted(rows["ruleset"].dropna().unique())
    body = []
    for v in variants:
        cells = []
        for rid in rulesets:
            own = rows[(rows["variant"] == v["id"]) & (rows["ruleset"] == rid)]
            if own["value"].isna().all():
                cells.append("not fitted")
                continue
            names = [labels.get(s.removeprefix("dimension="), s) for s in own.loc[own["value"] == 1, "stratum"]]
            cells.append(", ".join(names) if names else "none")
        body.append({"variant": v, "cells": cells})
    return {"rulesets": rulesets, "rows": body}


def _produced(summary: pd.DataFrame, panel_id: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    part = summary[summary["panel_id"] == panel_id] if not summary.empty else summary
    for row in part.itertuples(index=False):
        ruleset = row.ruleset if isinstance(row.ruleset, str) and row.ruleset else None
        stratum = str(row.stratum)
        finding = str(row.finding)
        what = FINDINGS.get(finding, finding)
        if finding == "divergence_driver":
            what = f"{labels.get(stratum.removeprefix('dimension='), stratum)} drives divergence"
        elif stratum.startswith("complexity_band:"):
            what = f"{what}, {_stratum_label(stratum)} complexity"
        cell: Any = row.produced_by
        ids = [] if cell is None else [str(m) for m in cell]
        mechanisms = [MECHANISMS_BY_ID[m] for m in ids if m in MECHANISMS_BY_ID]
        fmt = {"checklist_exact": "pct0", "exact_agreement": "pct0", "teaching_divergent": "int"}.get(finding, "f2")
        out.append({
            "finding": finding, "what": what[0].upper() + what[1:], "ruleset": ruleset, "stratum": stratum, "fmt": fmt,
            "number": finding != "divergence_driver",
            "full": _key(panel_id, FULL, finding, ruleset, stratum),
            "item_key": _key(panel_id, ITEM_READING_VARIANT, finding, ruleset, stratum),
            "items_driver": _driver_text(_item_value(row)),
            "mechanisms": [{"id": m.id, "label": m.label, "support": m.support} for m in mechanisms],
            "assumptions_only": bool(mechanisms) and all(not m.supported for m in mechanisms),
        })
    return out


def _item_value(row: Any) -> float | None:
    """The item reading's value of a produced-by row (None when missing)."""
    value = getattr(row, "item_reading", None)
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def _driver_text(value: float | None) -> str:
    if value is None:
        return "not fitted"
    return "drives it" if value == 1 else "does not drive it"


def build_ablation(tables: Mapping[str, pd.DataFrame], dimension_labels: Mapping[str, str],
                   ruleset_titles: Mapping[str, str]) -> dict[str, Any]:
    """What the methods-appendix part shows: one entry per simulated panel of the ablation table.

    Returns ``{"present": bool, "rule": str, "item_reading": dict, "mechanisms": [...],
    "panels": [...]}``; each panel has its ``share`` keys (the item-reading share, overall and by
    band), its finding tables (variants by strata, as keys into the ablation table), its
    drivers table (words read from the table) and its produced-by rows.
    """
    findings = tables.get("ablation", pd.DataFrame())
    summary = tables.get("ablation_produced_by", pd.DataFrame())
    out: dict[str, Any] = {"present": False, "rule": PRODUCED_BY_RULE, "panels": [],
                           "item_reading": _mechanism(ITEM_READING),
                           "mechanisms": [_mechanism(m) for m in MECHANISMS]}
    if findings is None or findings.empty or "panel_id" not in findings.columns:
        return out
    out["present"] = True
    for panel_id in sorted(findings["panel_id"].unique()):
        part = findings[findings["panel_id"] == panel_id]
        variants = _variants(part)
        shares = part[(part["finding"] == "item_reading_share") & (part["variant"] == FULL)]
        share = [{"stratum": s, "label": "all levels" if s == "all" else _stratum_label(s) + " complexity",
                  "key": _key(str(panel_id), FULL, "item_reading_share", None, s)}
                 for s in sorted(shares["stratum"], key=lambda s: (s != "all", _stratum_order(s)))]
        finding_tables = [t for finding, fmt, title in TABLES
                          if (t := _finding_table(part, str(panel_id), finding, fmt, title, variants,
                                                  ruleset_titles)) is not None]
        out["panels"].append({
            "id": str(panel_id), "variants": variants, "share": share,
            "share_all": _key(str(panel_id), FULL, "item_reading_share", None, "all"),
            "tables": finding_tables, "drivers": _drivers(part, variants, dimension_labels),
            "produced": _produced(summary, str(panel_id), dimension_labels)})
    return out
