"""Column schemas of the tables passed between stages, and their validation.

Every stage boundary calls :func:`validate`. A table that breaks its schema
raises :class:`SchemaError` naming the table, the column and, where a value is
wrong, the first offending row.

Examples
--------
>>> import pandas as pd
>>> from dsk.schema import validate
>>> df = pd.DataFrame({"vignette_id": ["v1"], "ruleset_id": ["r"], "ruleset_version": ["abc"],
...     "need_level": [4], "decisive_rule": ["disclosure"], "fired": [["disclosure"]], "n_fired": [1],
...     "conflict": [False], "defaulted": [False], "lead_agency": ["social_care"]})
>>> validate(df, "decisions") is df
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from dsk.catalogue import Catalogue

__all__ = [
    "BANDS",
    "CLEAR_CONSENSUS",
    "COMPLEXITY_COLUMNS",
    "NEED_LEVELS",
    "QUADRANTS",
    "REASONS",
    "RUN_TABLES",
    "STANCES",
    "STATS_COLUMNS",
    "STATS_KEY",
    "TABLES",
    "Column",
    "SchemaError",
    "columns",
    "validate",
]


class SchemaError(ValueError):
    """A table that does not match its schema."""


@dataclass(frozen=True)
class Column:
    """``kind`` is one of str, int, float, bool, list; ``nullable`` allows missing values.

    A column with ``required=False`` may be absent (an analysis that has nothing
    to put there leaves it out); when present it is checked like any other.
    """

    name: str
    kind: str
    nullable: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = True


COMPLEXITY_COLUMNS = (
    "cx_multiplicity",
    "cx_interconnection",
    "cx_network",
    "cx_conflict",
    "cx_turbulence",
    "cx_emotional",
)

#: Complexity bands, in order.
BANDS = ("low", "medium", "high")
STANCES = ("concern", "reassure")
#: The decision scale: need levels 1 (universal) to 4 (specialist or statutory).
NEED_LEVELS = (1, 2, 3, 4)

#: Quadrants of the failures table (see :mod:`dsk.analysis.failures`).
QUADRANTS = ("agreed_and_clear", "checklist_off_consensus", "panel_split", "both_uncertain")
#: Reason codes of the failures table, in the order they are listed.
REASONS = ("defaulted", "conflict", "cliff", "interaction_missed", "conflicting_reports",
           "protective_ignored", "turbulence_missed", "uncorroborated")
#: A panel is *clear* when its ordinal consensus (Tastle and Wierman) is at least this.
CLEAR_CONSENSUS = 0.7

#: The tables a run writes, in the order it writes them (``NAME.parquet`` and ``NAME.csv``).
RUN_TABLES = ("vignettes", "decisions", "trace", "judgements", "stats", "failures", "importance",
              "teaching", "model_terms", "model_fit", "variance_components", "dependability", "ablation",
              "ablation_produced_by")
#: The columns that identify a row of the stats table.
STATS_KEY = ("analysis", "metric", "comparison", "stratum")
#: The required columns of the stats table, in order.
STATS_COLUMNS = (*STATS_KEY, "estimate", "ci_low", "ci_high", "n")

TABLES: Mapping[str, tuple[Column, ...]] = {
    # Factor, child-attribute and derived columns are added from the catalogue.
    "vignettes": (
        Column("vignette_id", "str"),
        Column("set_id", "str"),
        Column("seed", "int"),
        *(Column(c, "float", lo=0.0, hi=1.0) for c in COMPLEXITY_COLUMNS),
        Column("complexity", "float", lo=0.0, hi=1.0),
        Column("complexity_band", "str", choices=BANDS),
        Column("reports", "list"),
        Column("narrative", "str"),
    ),
    "decisions": (
        Column("vignette_id", "str"),
        Column("ruleset_id", "str"),
        Column("ruleset_version", "str"),
        Column("need_level", "int", lo=1, hi=4),
        Column("decisive_rule", "str", nullable=True),
        Column("fired", "list"),
        Column("n_fired", "int", lo=0),
        Column("conflict", "bool"),
        Column("defaulted", "bool"),
        Column("lead_agency", "str", nullable=True),
    ),
    "trace": (
        Column("vignette_id", "str"),
        Column("ruleset_id", "str"),
        Column("rule_id", "str"),
        Column("fired", "bool"),
        Column("level", "int", lo=1, hi=4),
        Column("decisive", "bool"),
        Column("margin", "int", nullable=True, lo=0),  # null: the rule can never fire
    ),
    "judgements": (
        Column("vignette_id", "str"),
        Column("rater_id", "str"),
        Column("rater_kind", "str", choices=("rules", "simulated", "human")),
        Column("profession", "str", nullable=True, required=False),
        Column("panel_id", "str", nullable=True, required=False),
        Column("round", "int", lo=1, hi=2),
        Column("need_level", "int", lo=1, hi=4),
        # what a study may or may not collect: absent or empty when it did not
        Column("confidence", "float", nullable=True, lo=0.0, hi=1.0, required=False),
        Column("risk", "float", nullable=True, lo=0.0, hi=10.0, required=False),
        Column("salient_factors", "list", nullable=True, required=False),  # None: not collected
        Column("rationale", "str", nullable=True, required=False),
        Column("lead_agency", "str", nullable=True, required=False),
        Column("seconds", "float", nullable=True, lo=0.0, required=False),
        # where the practitioner saw the vignette: their deck and its 1-based position in it
        Column("deck_id", "str", nullable=True, required=False),
        Column("position", "int", nullable=True, lo=1, required=False),
        Column("site", "str", nullable=True, required=False),
        Column("years_experience", "float", nullable=True, lo=0.0, hi=70.0, required=False),
    ),
    "stats": (
        Column("analysis", "str"),
        Column("metric", "str"),
        Column("comparison", "str"),
        Column("stratum", "str"),
        Column("estimate", "float", nullable=True),
        Column("ci_low", "float", nullable=True),
        Column("ci_high", "float", nullable=True),
        Column("n", "int", lo=0),
        # bootstrap replicates that gave no value (NaN), out of the run's replicates; empty
        # where no bootstrap was run (written by the agreement analysis)
        Column("boot_failed", "int", nullable=True, lo=0, required=False),
        # written by the divergence model only; empty on other analyses' rows
        Column("p_value", "float", nullable=True, lo=0.0, hi=1.0, required=False),
        # p_value adjusted by Holm's method across the dimensions of one model
        Column("p_holm", "float", nullable=True, lo=0.0, hi=1.0, required=False),
        Column("drives_breakdown", "bool", nullable=True, required=False),
    ),
    "failures": (
        Column("vignette_id", "str"),
        Column("ruleset_id", "str"),
        Column("rule_level", "int", lo=1, hi=4),
        Column("panel_median", "float", lo=1.0, hi=4.0),
        Column("panel_consensus", "float", lo=0.0, hi=1.0),
        Column("divergence", "float"),
        Column("quadrant", "str", choices=QUADRANTS),
        Column("brittleness", "float", nullable=True, lo=0.0, hi=1.0),
        Column("reasons", "list"),
        Column("panel_mean", "float", lo=1.0, hi=4.0, required=False),
        Column("surrogate_shift", "float", nullable=True, lo=0.0, required=False),
        Column("complexity_band", "str", choices=BANDS, required=False),
    ),
    # one row per feature x ruleset: mean absolute SHAP value of the checklist and of the panel,
    # and the direction of each
    "importance": (
        Column("feature", "str"),
        Column("rule_importance", "float", lo=0.0),
        Column("panel_importance", "float", lo=0.0),
        Column("rule_rank", "int", lo=1),
        Column("panel_rank", "int", lo=1),
        Column("ruleset_id", "str", required=False),
        # direction: correlation of the feature's value with its SHAP value (None: no attribution)
        Column("rule_direction", "float", nullable=True, lo=-1.0, hi=1.0, required=False),
        Column("panel_direction", "float", nullable=True, lo=-1.0, hi=1.0, required=False),
    ),
    # the variance components of the practitioners' levels (dsk.analysis.variance)
    "variance_components": (
        Column("component", "str", choices=("vignette", "practitioner", "residual")),
        Column("variance", "float", lo=0.0),
        Column("share", "float", nullable=True, lo=0.0, hi=1.0),
    ),
    # the reliability of the mean of k practitioners: dependability and generalizability
    "dependability": (
        Column("k", "int", lo=1),
        Column("phi", "float", nullable=True, lo=0.0, hi=1.0),
        Column("g", "float", nullable=True, lo=0.0, hi=1.0),
    ),
    # the failures rows chosen for a training room, best first
    "teaching": (
        Column("vignette_id", "str"),
        Column("ruleset_id", "str"),
        Column("rule_level", "int", lo=1, hi=4),
        Column("panel_median", "float", lo=1.0, hi=4.0),
        Column("panel_consensus", "float", lo=0.0, hi=1.0),
        Column("divergence", "float"),
        Column("quadrant", "str", choices=QUADRANTS),
        Column("reasons", "list"),
        Column("teaching_score", "float", lo=0.0),
        Column("complexity", "float", nullable=True, lo=0.0, hi=1.0),
        # |divergence| >= 1; absent from runs written before the gallery showed agreeing cases
        Column("diverges", "bool", required=False),
    ),
    # the cumulative-link models (dsk.analysis.models): practitioners' CLMM and each checklist's
    # fixed-effects model, one row per threshold, fixed effect and random-effect SD
    "model_terms": (
        Column("model", "str"),
        Column("term", "str"),
        Column("kind", "str", choices=("threshold", "fixed", "sd")),
        Column("estimate", "float", nullable=True),  # +/-inf where separation leaves no estimate
        Column("odds_ratio", "float", nullable=True, lo=0.0),
        Column("se", "float", nullable=True, lo=0.0),
        Column("z", "float", nullable=True),
        Column("p", "float", nullable=True, lo=0.0, hi=1.0),
        Column("ci_low", "float", nullable=True),
        Column("ci_high", "float", nullable=True),
    ),
    "model_fit": (
        Column("model", "str"),
        Column("formula", "str"),
        Column("loglik", "float", nullable=True),
        Column("aic", "float", nullable=True),
        Column("n_obs", "int", lo=0),
        Column("groups", "str"),
        Column("converged", "bool"),
        Column("warnings", "str"),
        Column("max_gradient", "float", nullable=True, lo=0.0, required=False),
        Column("condition_number", "float", nullable=True, required=False),
    ),
    # which assumption produces which finding (dsk.panels.ablate): one row per simulated panel x
    # variant (full, without_<mechanism>, item_reading) x finding x ruleset x stratum; ruleset
    # empty for the panel's own findings; value missing where it cannot be computed
    "ablation": (
        Column("panel_id", "str"),
        Column("variant", "str"),
        Column("finding", "str"),
        Column("ruleset", "str", nullable=True),
        Column("stratum", "str"),
        Column("value", "float", nullable=True),
        Column("n", "int", lo=0),
    ),
    # per finding of the full model, the mechanisms whose removal undoes it (the rule is in
    # dsk.panels.ablate.PRODUCED_BY_RULE); value: the full model's, item_reading: all switched off
    "ablation_produced_by": (
        Column("panel_id", "str"),
        Column("finding", "str"),
        Column("ruleset", "str", nullable=True),
        Column("stratum", "str"),
        Column("value", "float", nullable=True),
        Column("item_reading", "float", nullable=True),
        Column("produced_by", "list"),
    ),
}


def columns(table: str, catalogue: Catalogue | None = None) -> tuple[Column, ...]:
    """The columns of ``table``; for vignettes, including the catalogue's columns."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; tables are {', '.join(TABLES)}")
    cols = TABLES[table]
    if table == "vignettes" and catalogue is not None:
        extra: list[Column] = []
        for f in catalogue.factors:
            extra.append(Column(f.id, "int", lo=0, hi=f.max_level))
        for name in catalogue.child_ids:
            extra.append(Column(name, "int", lo=0, hi=catalogue.value_range(name)[1]))
        for d in catalogue.derived:
            extra.append(Column(d.id, "int", lo=0, hi=d.max_value))
        cols = cols[:3] + tuple(extra) + cols[3:]
    return cols


def _first_bad(mask: np.ndarray, df: pd.DataFrame) -> str:
    pos = int(np.flatnonzero(mask)[0])
    label = df.index[pos]
    ident = ""
    for key in ("vignette_id", "rater_id"):
        if key in df.columns:
            ident += f" {key}={df[key].iloc[pos]!r}"
    return f"row {label}{ident}"


def validate(df: pd.DataFrame, table: str, catalogue: Catalogue | None = None,
             source: str | None = None) -> pd.DataFrame:
    """Check ``df`` against the schema of ``table``; return it unchanged or raise.

    Extra columns are allowed (analyses may carry more); missing ones are not,
    unless the schema marks them ``required=False``.
    """
    where = f"{source}: " if source else ""
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{where}{table}: expected a pandas DataFrame, got {type(df).__name__}")
    absent = [c.name for c in columns(table, catalogue) if c.required and c.name not in df.columns]
    if absent:
        plural = "s" if len(absent) > 1 else ""
        raise SchemaError(f"{where}{table}: missing required column{plural} {', '.join(absent)}")
    for col in columns(table, catalogue):
        name = f"{where}{table}.{col.name}"
        if col.name not in df.columns:
            continue
        series = df[col.name]
        missing = series.isna().to_numpy()
        if col.kind == "list":
            missing = np.array([v is None for v in series], dtype=bool)
        if missing.any() and not col.nullable:
            raise SchemaError(f"{name}: missing value at {_first_bad(missing, df)}")
        present = series[~missing]
        if col.kind == "int":
            if not (pd.api.types.is_integer_dtype(present) or present.empty):
                numeric = pd.to_numeric(present, errors="coerce")
                bad = numeric.isna().to_numpy() | (numeric.to_numpy() % 1 != 0)
                if bad.any():
                    full = np.zeros(len(df), dtype=bool)
                    full[np.flatnonzero(~missing)[bad]] = True
                    raise SchemaError(f"{name}: expected an integer at {_first_bad(full, df)}, "
                                      f"got {present[bad].iloc[0]!r}")
        elif col.kind == "float":
            if not (pd.api.types.is_numeric_dtype(present) or present.empty):
                raise SchemaError(f"{name}: expected numbers, got dtype {series.dtype}")
        elif col.kind == "bool":
            if not (pd.api.types.is_bool_dtype(present) or present.empty):
                bad = ~present.isin([True, False]).to_numpy()
                if bad.any():
                    raise SchemaError(f"{name}: expected true/false, got {present[bad].iloc[0]!r}")
        elif col.kind == "str":
            # a pandas string column holds only text (missing values were handled above)
            typed = pd.api.types.is_string_dtype(present.dtype) and present.dtype != object
            bad = np.zeros(len(present), dtype=bool) if typed else \
                ~np.array([isinstance(v, str) for v in present], dtype=bool)
            if bad.any():
                raise SchemaError(f"{name}: expected text, got {present[bad].iloc[0]!r}")
        elif col.kind == "list":
            bad = ~np.array([isinstance(v, (list, tuple, np.ndarray)) for v in present], dtype=bool)
            if bad.any():
                raise SchemaError(f"{name}: expected a list, got {present[bad].iloc[0]!r}")
        if col.kind in ("int", "float") and (col.lo is not None or col.hi is not None) and not present.empty:
            values = pd.to_numeric(present).to_numpy(dtype=float)
            bad = np.zeros(len(values), dtype=bool)
            if col.lo is not None:
                bad |= values < col.lo
            if col.hi is not None:
                bad |= values > col.hi
            if bad.any():
                full = np.zeros(len(df), dtype=bool)
                full[np.flatnonzero(~missing)[bad]] = True
                raise SchemaError(f"{name}: value {values[bad][0]:g} outside [{col.lo}, {col.hi}] "
                                  f"at {_first_bad(full, df)}")
        if col.choices and not present.empty:
            bad = ~present.isin(col.choices).to_numpy()
            if bad.any():
                full = np.zeros(len(df), dtype=bool)
                full[np.flatnonzero(~missing)[bad]] = True
                raise SchemaError(f"{name}: {present[bad].iloc[0]!r} is not one of "
                                  f"{', '.join(col.choices)} at {_first_bad(full, df)}")
    return df
