"""lme4-style model formulas: random intercepts split off here, the fixed part built by formulaic.

``need_level ~ domestic_abuse * profession + position + (1|rater_id) + (1|vignette_id)``:
the ``(1|g)`` terms are taken out with a regular expression; what is left is a formulaic
formula. Columns holding text (or pandas categoricals) enter as treatment-coded levels with
the first level as reference; ``C(x, contr.treatment(base='b'))`` picks another reference and
``C(x)`` turns a numeric column into levels. Numeric columns enter as numbers. A column
name that is not an identifier is quoted with backticks, as in "`need level` ~ `domestic abuse`".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_RANDOM = re.compile(r"\(\s*([^()|]*?)\s*\|\s*([^()|]+?)\s*\)")
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*|`[^`]+`)$")  # a column name, or `any name`


class FormulaError(ValueError):
    """A formula, or the data it is applied to, that cannot be fitted; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into response, fixed right-hand side and random-intercept groups."""

    response: str
    fixed: str
    groups: tuple[str, ...]


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4-style formula into response, fixed part and random-intercept groups.

    Examples
    --------
    >>> parse_formula("rating ~ temp + contact + (1|judge) + (1 | bottle)")
    ParsedFormula(response='rating', fixed='temp + contact', groups=('judge', 'bottle'))
    >>> parse_formula("y ~ (1|g)").fixed
    '1'
    >>> parse_formula("`need level` ~ `domestic abuse` + (1|`rater id`)")
    ParsedFormula(response='need level', fixed='`domestic abuse`', groups=('rater id',))
    """
    problems: list[str] = []
    if formula.count("~") != 1:
        raise FormulaError([f"formula {formula!r} needs exactly one '~' (response ~ terms)"])
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not _NAME.match(lhs):
        problems.append(f"the response {lhs!r} must be one column name")
    groups: list[str] = []
    for inner, group in _RANDOM.findall(rhs):
        if inner != "1":
            problems.append(f"random term ({inner}|{group}): only random intercepts (1|{group}) are supported")
        if not _NAME.match(group):
            problems.append(f"random term (1|{group}): the grouping must be one column name")
        if group in groups:
            problems.append(f"random term (1|{group}) is given twice")
        groups.append(group)
    fixed = _RANDOM.sub("", rhs)
    fixed = re.sub(r"\+\s*(\+\s*)+", "+ ", fixed).strip().strip("+").strip()
    if "|" in fixed:
        problems.append(f"cannot read the random terms in {rhs!r}; write them as (1|group)")
    if problems:
        raise FormulaError(problems)
    return ParsedFormula(lhs.strip("`"), fixed or "1", tuple(g.strip("`") for g in groups))


@dataclass
class ModelFrame:
    """The numeric pieces of a model: response codes, fixed design, group codes."""

    y: np.ndarray
    levels: list[object]  # response levels, in order
    X: np.ndarray
    columns: list[str]
    groups: list[np.ndarray]
    group_levels: list[list[object]]
    dropped: list[str]  # aliased columns dropped from X


def _response(values: pd.Series, name: str, problems: list[str]) -> tuple[np.ndarray, list[object]]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.cat.ordered:
            problems.append(f"response column {name!r} is an unordered categorical; make it ordered "
                            "or code its levels as integers")
            return np.zeros(0, dtype=int), []
        used = [c for c in values.cat.categories if (values == c).any()]
        codes = pd.Categorical(values, categories=used, ordered=True).codes
        return np.asarray(codes, dtype=int), list(used)
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        problems.append(f"response column {name!r} is not ordinal-coded: give integer levels "
                        "(1 < 2 < ...) or an ordered categorical")
        return np.zeros(0, dtype=int), []
    arr = values.to_numpy(dtype=float)
    if np.any(arr != np.round(arr)):
        problems.append(f"response column {name!r} is not ordinal-coded: it holds non-integer values")
        return np.zeros(0, dtype=int), []
    levels, codes = np.unique(arr, return_inverse=True)
    return codes.astype(int), [int(v) for v in levels]


def model_frame(parsed: ParsedFormula, data: pd.DataFrame) -> ModelFrame:
    """Check the data against the formula (every problem at once) and build the design.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 2, 3, 2], "x": ["a", "b", "a", "b"], "g": [1, 1, 2, 2]})
    >>> mf = model_frame(parse_formula("y ~ x + (1|g)"), df)
    >>> mf.columns, mf.levels, mf.group_levels
    (['x[T.b]'], [1, 2, 3], [[1, 2]])
    """
    from formulaic import Formula, model_matrix

    problems: list[str] = []
    try:
        fixed_vars = sorted(Formula("1 + " + parsed.fixed).required_variables,
                            key=lambda v: (parsed.fixed.find(v), v))  # in formula order
    except Exception as exc:  # noqa: BLE001 - formulaic raises many kinds; report as plain words
        raise FormulaError([f"cannot read the fixed part {parsed.fixed!r}: {exc}"]) from None
    wanted = [parsed.response, *fixed_vars, *parsed.groups]
    missing = [c for c in dict.fromkeys(wanted) if c not in data.columns]
    if missing:
        have = ", ".join(map(str, data.columns))
        which = (f"column {missing[0]!r} is" if len(missing) == 1
                 else "columns " + ", ".join(map(repr, missing)) + " are")
        problems.append(f"{which} not in the data (its columns: {have})")
    present = [c for c in dict.fromkeys(wanted) if c in data.columns]
    for c in present:
        n_na = int(data[c].isna().sum())
        if n_na:
            problems.append(f"column {c!r} has {n_na} missing value(s)")
    for gname in parsed.groups:
        if gname in data.columns and data[gname].nunique(dropna=True) < 2:
            problems.append(f"grouping column {gname!r} has only one level; a random intercept "
                            "needs at least two groups")
    y, levels = np.zeros(0, dtype=int), list[object]()
    if parsed.response in data.columns and not data[parsed.response].isna().any():
        y, levels = _response(data[parsed.response], parsed.response, problems)
        if levels and len(levels) < 2:
            problems.append(f"response column {parsed.response!r} has only one level")
    if problems:
        raise FormulaError(problems)
    frame = data[present].reset_index(drop=True)
    try:
        mm = model_matrix("1 + " + parsed.fixed, frame, na_action="raise")
    except Exception as exc:  # noqa: BLE001
        raise FormulaError([f"cannot build the fixed part {parsed.fixed!r}: {exc}"]) from None
    X_full = np.asarray(mm, dtype=float)
    cols = list(mm.columns)
    X, keep_cols, dropped = _drop_aliased(X_full, cols)
    groups, glevels = [], []
    for gname in parsed.groups:
        codes, uniq = pd.factorize(frame[gname], sort=True)
        groups.append(np.asarray(codes, dtype=int))
        glevels.append(list(uniq))
    return ModelFrame(y, levels, X, keep_cols, groups, glevels, dropped)


def _drop_aliased(X: np.ndarray, cols: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop the intercept and any column aliased with the intercept and earlier columns."""
    keep = [0]  # the intercept is column 0 and is always kept for the rank check
    for j in range(1, X.shape[1]):
        trial = X[:, keep + [j]]
        if np.linalg.matrix_rank(trial) == len(keep) + 1:
            keep.append(j)
    dropped = [cols[j] for j in range(1, X.shape[1]) if j not in keep]
    kept = keep[1:]
    return X[:, kept], [cols[j] for j in kept], dropped
