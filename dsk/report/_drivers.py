"""The report section "What drives practitioners' levels": what it shows, from the run's tables.

It reads the ``models`` analysis (``model_terms``, ``model_fit``: the practitioners'
cumulative-link mixed model and each checklist's fixed-effects model on the same factors) and
the ``variance`` analysis (``variance_components``, ``dependability``). As elsewhere in the
report, numbers are not copied here: each row carries the key (``model``, ``term``) the
template hands to :class:`~dsk.report._numbers.NumberSource`. What this module decides is the
wording, and the wording follows the intervals: a term "raises" or "lowers" the level only
when its 95% interval excludes 0; otherwise it has "no clear effect".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dsk.report import _drivers_plots as plots

__all__ = ["PRACTITIONERS", "Drivers", "TermRow", "build_drivers", "direction", "first_reliable_k",
           "grouped", "order_reading", "term_label"]

#: The ``model`` value of the practitioners' model in ``model_terms`` and ``model_fit``.
PRACTITIONERS = "practitioners"
#: The dependability a decision by the mean of k practitioners should reach.
RELIABLE = 0.8
#: Practitioner covariates: terms that belong to who judged, not to the case.
_COVARIATES = ("profession", "position", "years_experience", "site")


def direction(estimate: float | None, ci_low: float | None, ci_high: float | None) -> str:
    """The word for a log-odds estimate and its 95% interval.

    ``"raises"`` when the interval lies above 0, ``"lowers"`` when below, ``"no clear effect"``
    when it includes 0; ``"separation"`` for an estimate that does not exist (infinite: the
    levels are predicted exactly), ``"no estimate"`` for a missing one (NaN) and
    ``"no interval"`` when only the interval is missing.

    Examples
    --------
    >>> direction(0.7, 0.2, 1.2), direction(-0.7, -1.2, -0.2), direction(0.7, -0.1, 1.5)
    ('raises', 'lowers', 'no clear effect')
    >>> direction(float("inf"), None, None), direction(0.3, float("nan"), float("nan"))
    ('separation', 'no interval')
    >>> direction(None, None, None)
    'no estimate'
    """
    if estimate is None or math.isnan(estimate):
        return "no estimate"
    if math.isinf(estimate):
        return "separation"
    if ci_low is None or ci_high is None or math.isnan(ci_low) or math.isnan(ci_high):
        return "no interval"
    if ci_low > 0:
        return "raises"
    if ci_high < 0:
        return "lowers"
    return "no clear effect"


def order_reading(word: str) -> str:
    """A plain sentence for the position-in-deck effect, from :func:`direction`'s word.

    A rise or fall of the level along the deck is an order effect; from the levels alone it
    cannot be told whether it is learning (a practitioner settling into the scale) or
    fatigue (less care late in the deck), so the sentence names both.

    Examples
    --------
    >>> order_reading("raises")
    'Practitioners gave higher levels to vignettes later in their deck: an order effect (learning or fatigue; the levels alone cannot tell which).'
    >>> order_reading("no clear effect")
    'The position in the deck had no clear effect on the level: no sign of learning or fatigue.'
    """
    if word in ("raises", "lowers"):
        higher = "higher" if word == "raises" else "lower"
        return (f"Practitioners gave {higher} levels to vignettes later in their deck: an order "
                "effect (learning or fatigue; the levels alone cannot tell which).")
    if word == "no clear effect":
        return "The position in the deck had no clear effect on the level: no sign of learning or fatigue."
    return "The position effect could not be estimated with an interval."


def first_reliable_k(dependability: pd.DataFrame, threshold: float = RELIABLE) -> int | None:
    """The smallest k whose mean of k practitioners reaches dependability ``threshold``.

    Examples
    --------
    >>> table = pd.DataFrame({"k": [1, 2, 3], "phi": [0.5, 0.67, 0.75]})
    >>> first_reliable_k(table, 0.7), first_reliable_k(table) is None
    (3, True)
    """
    if dependability.empty or "phi" not in dependability:
        return None
    reached = dependability[dependability["phi"] >= threshold].sort_values("k")
    return int(reached["k"].iloc[0]) if not reached.empty else None


def term_label(term: str, labels: Mapping[str, str]) -> str:
    """Plain words for a model term: factors by their catalogue label, levels and interactions.

    Examples
    --------
    >>> labels = {"domestic_abuse": "Domestic abuse", "n_concerns": "Number of concerns"}
    >>> term_label("domestic_abuse", labels), term_label("C(domestic_abuse)[T.2]", labels)
    ('Domestic abuse', 'Domestic abuse = 2')
    >>> term_label("domestic_abuse:n_concerns", labels)
    'Domestic abuse × Number of concerns'
    """
    parts = []
    for part in term.split(":"):
        match = re.fullmatch(r"(?:C\()?([A-Za-z_][A-Za-z0-9_]*)(?:[^)\[]*\))?(?:\[T\.(.+)\])?", part)
        if match is None:
            parts.append(part)
            continue
        name, level = match.group(1), match.group(2)
        text = labels.get(name, name.replace("_", " "))
        parts.append(f"{text} = {level}" if level is not None else text)
    return " × ".join(parts)


def grouped(rows: Iterable[TermRow]) -> dict[str, list[str]]:
    """The labels of the rows grouped by their word, in the rows' order.

    Examples
    --------
    >>> rows = [TermRow("m", "a", "A", "raises", {}, 1.0), TermRow("m", "b", "B", "no clear effect",
    ...         {}, 0.1), TermRow("m", "c", "C", "raises", {}, 2.0)]
    >>> grouped(rows)
    {'raises': ['A', 'C'], 'no clear effect': ['B']}
    """
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.word, []).append(row.label)
    return out


def _covariate(term: str) -> str | None:
    """The practitioner covariate a term belongs to, or None for a vignette factor."""
    for name in _COVARIATES:
        if term == name or term.startswith((f"{name}[", f"C({name}")):
            return name
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@dataclass
class TermRow:
    """One fixed-effect term of one model: its key in ``model_terms`` and its word."""

    model: str
    term: str
    label: str
    word: str
    key: dict[str, str]
    estimate: float | None


@dataclass
class ModelNote:
    """One model of the ``models`` analysis: whether it was fitted, and its warnings."""

    model: str
    title: str
    fitted: bool
    n_obs: int
    separated: bool
    warnings: list[str]


@dataclass
class Drivers:
    """The section's inputs (see :func:`build_drivers`)."""

    models_run: bool = False
    variance_run: bool = False
    practitioners: ModelNote | None = None
    checklists: list[ModelNote] = field(default_factory=list)
    #: per vignette factor: its label and a TermRow per model (practitioners first)
    factors: list[dict[str, Any]] = field(default_factory=list)
    professions: list[TermRow] = field(default_factory=list)
    reference_profession: str | None = None
    position: TermRow | None = None
    covariates: list[TermRow] = field(default_factory=list)
    position_reading: str = ""
    reliable_k: int | None = None
    reliable: float = RELIABLE
    ks: list[int] = field(default_factory=list)
    #: the practitioners' factors and the professions grouped by their word (for the summary)
    factor_words: dict[str, list[str]] = field(default_factory=dict)
    profession_words: dict[str, list[str]] = field(default_factory=dict)
    plot: plots.Svg | None = None
    variance_plot: plots.Svg | None = None


def _row(terms: pd.DataFrame, model: str, term: str, label: str) -> TermRow:
    own = terms[(terms["model"] == model) & (terms["term"] == term)]
    estimate = _number(own["estimate"].iloc[0]) if not own.empty else None
    low = _number(own["ci_low"].iloc[0]) if not own.empty else None
    high = _number(own["ci_high"].iloc[0]) if not own.empty else None
    return TermRow(model=model, term=term, label=label, word=direction(estimate, low, high),
                   key={"model": model, "term": term}, estimate=estimate)


def _notes(fits: pd.DataFrame, terms: pd.DataFrame, titles: Mapping[str, str]) -> list[ModelNote]:
    out = []
    for _, fit in fits.iterrows():
        model = str(fit["model"])
        own = terms[terms["model"] == model] if not terms.empty else terms
        text = fit.get("warnings")
        warnings = [w.strip() for w in (text if isinstance(text, str) else "").split(" | ") if w.strip()]
        infinite = bool(not own.empty and own["estimate"].map(
            lambda v: _number(v) is not None and math.isinf(float(v))).any())
        out.append(ModelNote(model=model, title=titles.get(model, model), fitted=not own.empty,
                             n_obs=int(fit["n_obs"]), warnings=warnings,
                             separated=infinite or any("separation" in w for w in warnings)))
    return out


def _reference(judgements: pd.DataFrame, shown: Sequence[str]) -> str | None:
    """The reference profession: the one the practitioners' model has no term for."""
    if judgements.empty or "profession" not in judgements or not shown:
        return None
    people = judgements[judgements["rater_kind"] != "rules"]
    if "round" in people:
        people = people[people["round"] == 1]
    levels = sorted(people["profession"].dropna().astype(str).unique())
    missing = [p for p in levels if p not in shown]
    return missing[0] if len(missing) == 1 else None


def build_drivers(tables: Mapping[str, pd.DataFrame], labels: Mapping[str, str],
                  profession_labels: Mapping[str, str], titles: Mapping[str, str]) -> Drivers:
    """Decide what the section shows: the terms of each model, their words, and the plots.

    Parameters
    ----------
    tables : the run's tables by name (``model_terms``, ``model_fit``, ``variance_components``,
        ``dependability``, ``judgements``); a missing or empty table means its analysis did not
        run (an older run folder has none of them).
    labels : plain names of the vignette factors.
    profession_labels : plain names of the professions.
    titles : checklist titles by ruleset id.

    Examples
    --------
    >>> terms = pd.DataFrame({"model": ["practitioners"] * 2, "term": ["n_concerns", "position"],
    ...                       "kind": ["fixed"] * 2, "estimate": [0.7, -0.01],
    ...                       "ci_low": [0.4, -0.05], "ci_high": [1.0, 0.03]})
    >>> fits = pd.DataFrame({"model": ["practitioners"], "n_obs": [100], "warnings": [""]})
    >>> d = build_drivers({"model_terms": terms, "model_fit": fits}, {}, {}, {})
    >>> d.factors[0]["rows"][0].word, d.position.word, d.variance_run
    ('raises', 'no clear effect', False)
    """
    def table(name: str) -> pd.DataFrame:
        frame = tables.get(name)
        return frame if frame is not None else pd.DataFrame()

    terms, fits = table("model_terms"), table("model_fit")
    components, dependability = table("variance_components"), table("dependability")
    out = Drivers(models_run=not fits.empty, variance_run=not components.empty)
    if out.models_run:
        notes = _notes(fits, terms, titles)
        out.practitioners = next((n for n in notes if n.model == PRACTITIONERS), None)
        out.checklists = sorted((n for n in notes if n.model != PRACTITIONERS), key=lambda n: n.model)
        fixed = terms[terms["kind"] == "fixed"] if not terms.empty else terms
        models = ([PRACTITIONERS] if out.practitioners is not None and out.practitioners.fitted else []) \
            + [n.model for n in out.checklists if n.fitted]
        factor_terms = list(dict.fromkeys(
            str(t) for m in models for t in fixed.loc[fixed["model"] == m, "term"]
            if _covariate(str(t)) is None))
        for term in factor_terms:
            label = term_label(term, labels)
            out.factors.append({"term": term, "label": label,
                                "rows": [_row(fixed, m, term, label) for m in models]})
        mine = fixed[fixed["model"] == PRACTITIONERS] if not fixed.empty else fixed
        for term in mine["term"].astype(str) if not mine.empty else []:
            kind = _covariate(term)
            if kind == "profession":
                code = term.split("[T.", 1)[1].rstrip("]") if "[T." in term else term
                out.professions.append(_row(fixed, PRACTITIONERS, term,
                                            profession_labels.get(code, code.replace("_", " "))))
            elif kind == "position":
                out.position = _row(fixed, PRACTITIONERS, term, "position in the deck")
            elif kind is not None:
                out.covariates.append(_row(fixed, PRACTITIONERS, term, term_label(term, labels)))
        shown = [p.term.split("[T.", 1)[1].rstrip("]") for p in out.professions if "[T." in p.term]
        reference = _reference(table("judgements"), shown)
        out.reference_profession = profession_labels.get(reference, reference) if reference else None
        if out.position is not None:
            out.position_reading = order_reading(out.position.word)
        out.factor_words = grouped(r["rows"][0] for r in out.factors
                                   if r["rows"] and r["rows"][0].model == PRACTITIONERS)
        out.profession_words = grouped(out.professions)
        rows = out.factors
        out.plot = plots.coefficients(
            [{"label": r["label"], "model": row.model, "estimate": row.estimate,
              **_interval(fixed, row.model, row.term)} for r in rows for row in r["rows"]],
            models=models, titles={PRACTITIONERS: "practitioners (mixed model)"})
    if out.variance_run:
        out.ks = sorted(int(k) for k in dependability["k"]) if not dependability.empty else []
        out.reliable_k = first_reliable_k(dependability)
        out.variance_plot = plots.dependability(dependability, RELIABLE)
    return out


def _interval(fixed: pd.DataFrame, model: str, term: str) -> dict[str, float | None]:
    own = fixed[(fixed["model"] == model) & (fixed["term"] == term)]
    if own.empty:
        return {"ci_low": None, "ci_high": None}
    return {"ci_low": _number(own["ci_low"].iloc[0]), "ci_high": _number(own["ci_high"].iloc[0])}
