"""Minimal pairs: one vignette with chosen factors changed.

Threshold training and factorial studies both turn on the minimal pair: the
same case with one fact changed ("if the grandmother were not there"). A
variant keeps everything of its original that the change does not touch: the
child, the vignette's seed (so the same names and the same phrasing), and
every agency report of an unchanged factor in its place. Only the changed
factors' reports move:

- a factor that becomes absent loses its reports (an agency that first got in
  touch about it then first got in touch later, so its account moves down);
- a factor that becomes present gets one report, from an agency that the
  catalogue lists for it and that sees a child of this age, preferring one
  already reporting in the vignette (its report joins that agency's account);
- a factor whose level changes keeps its reports.

Derived features and complexity are then recomputed by
:func:`dsk.design.vignettes_from_specs`, the same path as hand-built
vignettes, so a variant is checked against the catalogue's exclusions like
any other vignette.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.sets import load_set
>>> cat = load_catalogue()
>>> cases = load_set("training-12", cat)
>>> pair = vary_vignette(cases, "tame-02-universal", {"extended_family_support": "absent"}, cat)
>>> pair["vignette_id"].iloc[0], int(pair["extended_family_support"].iloc[0])
('tame-02-universal-extended_family_support-absent', 0)
>>> pair["varied_from"].iloc[0]
'tame-02-universal'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dsk.catalogue import Catalogue
from dsk.design import VignetteSetError, vignettes_from_specs
from dsk.narrative import household, render_narrative

__all__ = ["VaryError", "describe_changes", "parse_changes", "vary_vignette"]

#: Child attributes a variant may change besides factors. The age band is not
#: one of them: a different age is a different child, with other agencies.
CHANGEABLE_CHILD = ("disability",)


class VaryError(ValueError):
    """A change that cannot be made, with every problem listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_changes(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["FACTOR=LEVEL", ...]`` as a mapping; every malformed item is reported at once."""
    out: dict[str, str] = {}
    problems = []
    for item in items:
        name, sep, level = item.partition("=")
        if not sep or not name.strip() or not level.strip():
            problems.append(f"--set {item!r}: expected FACTOR=LEVEL, e.g. extended_family_support=absent")
            continue
        if name.strip() in out:
            problems.append(f"--set {item!r}: {name.strip()} is set twice")
        out[name.strip()] = level.strip()
    if problems:
        raise VaryError(problems)
    return out


def _level_number(cat: Catalogue, name: str, value: Any, problems: list[str]) -> int | None:
    if name in CHANGEABLE_CHILD:
        levels = list(cat.child[name].levels)
    else:
        levels = list(cat.factor(name).levels)
    if isinstance(value, str) and value in levels:
        return levels.index(value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if 0 <= number < len(levels) and not isinstance(value, bool):
        return number
    problems.append(f"{name}: no level {value!r}; levels are {', '.join(levels)}")
    return None


def describe_changes(original: Mapping[str, Any], variant: Mapping[str, Any], cat: Catalogue) -> list[str]:
    """One line per changed factor or attribute: ``"extended_family_support: present -> none"``."""
    lines = []
    for name in (*CHANGEABLE_CHILD, *cat.factor_ids):
        before, after = int(original[name]), int(variant[name])
        if before != after:
            levels = cat.child[name].levels if name in CHANGEABLE_CHILD else cat.factor(name).levels
            lines.append(f"{name}: {levels[before]} -> {levels[after]}")
    return lines


def _agency_sees(cat: Catalogue, agency: str, age: int) -> bool:
    return age in cat.agency_ages[agency]


def vary_vignette(vignettes: pd.DataFrame, vignette_id: str, changes: Mapping[str, Any],
                  catalogue: Catalogue, *, id_suffix: str | None = None) -> pd.DataFrame:
    """The variant of one vignette with ``changes`` (factor -> level name or number) made.

    Parameters
    ----------
    vignettes : pandas.DataFrame
        A vignettes table holding ``vignette_id``.
    vignette_id : str
        The vignette to vary.
    changes : mapping
        Factor id (or ``disability``) to a level name or number.
    catalogue : Catalogue
        The catalogue the vignettes were built with.
    id_suffix : str, optional
        Appended to the id; by default ``-FACTOR-LEVEL`` for each change.

    Returns
    -------
    pandas.DataFrame
        One row, a vignettes table, with columns ``varied_from`` (the original's
        id) and ``variation`` (the changes, ``;``-joined) added.

    Raises
    ------
    VaryError
        Naming every unknown vignette, factor or level, a change that changes
        nothing, and any exclusion the variant would break.
    """
    cat = catalogue
    problems: list[str] = []
    rows = vignettes.index[vignettes["vignette_id"].astype(str) == str(vignette_id)]
    if len(rows) == 0:
        known = ", ".join(map(str, vignettes["vignette_id"].head(5)))
        raise VaryError([f"no vignette {vignette_id!r} in the file (it holds {known}, ...)"])
    original = vignettes.loc[rows[0]]
    if not changes:
        raise VaryError(["no change given: use --set FACTOR=LEVEL"])
    new_levels: dict[str, int] = {}
    for name, value in changes.items():
        if name not in CHANGEABLE_CHILD and name not in cat.factor_ids:
            hint = cat.closest_names(str(name))
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            problems.append(f"unknown factor {name!r}{extra}")
            continue
        level = _level_number(cat, name, value, problems)
        if level is None:
            continue
        if level == int(original[name]):
            levels = cat.child[name].levels if name in CHANGEABLE_CHILD else cat.factor(name).levels
            problems.append(f"{name}: the vignette is already at {levels[level]!r}, so nothing would change")
            continue
        new_levels[name] = level
    if problems:
        raise VaryError(problems)
    age = int(original["age_band"])
    factors = {f: int(original[f]) for f in cat.factor_ids}
    factors.update({k: v for k, v in new_levels.items() if k in cat.factor_ids})
    reports = [dict(r) for r in sorted(original["reports"], key=lambda r: int(r["order"]))]
    changed = {k for k in new_levels if k in cat.factor_ids}
    gone = [r for r in reports if r["factor"] in changed and factors[r["factor"]] == 0]
    reports = [r for r in reports if r not in gone]
    for name in cat.factor_ids:  # catalogue order, so that several changes land deterministically
        if name not in changed or factors[name] == 0 or any(r["factor"] == name for r in reports):
            continue
        factor = cat.factor(name)
        eligible = [a for a in factor.agencies if _agency_sees(cat, a, age)]
        if not eligible:
            problems.append(f"{name}: no agency listed for it sees a child of this age")
            continue
        reporting = [r["agency"] for r in reports]
        present = [a for a in eligible if a in reporting]
        agency = present[0] if present else eligible[0]
        stance = "reassure" if factor.protective else "concern"
        entry = {"agency": agency, "factor": name, "stance": stance}
        if agency in reporting:
            last = max(k for k, r in enumerate(reports) if r["agency"] == agency)
            reports.insert(last + 1, entry)
        else:
            reports.append(entry)
    if problems:
        raise VaryError(problems)
    child = cat.child
    spec = {
        "id": str(original["vignette_id"]) + (id_suffix if id_suffix is not None else "".join(
            f"-{k}-{(child[k].levels if k in CHANGEABLE_CHILD else cat.factor(k).levels)[v]}"
            for k, v in new_levels.items())),
        "age_band": child["age_band"].levels[age],
        "disability": child["disability"].levels[int(new_levels.get("disability", original["disability"]))],
        "factors": {k: v for k, v in factors.items() if v > 0},
        "reports": [{"agency": r["agency"], "factor": r["factor"], "stance": r["stance"]} for r in reports],
    }
    try:
        frame = vignettes_from_specs([spec], str(original.get("set_id", "varied")), 0, cat, narratives=False)
    except VignetteSetError as exc:
        raise VaryError(list(getattr(exc, "problems", ()) or [str(exc)])) from exc
    # unchanged reports keep their order numbers (and so their dates); new ones arrive last
    kept = [r for r in reports if "order" in r]
    last = max((int(r["order"]) for r in kept), default=0)
    numbered = []
    for r in reports:
        if "order" not in r:
            last += 1
            r = {**r, "order": last}
        numbered.append({"agency": r["agency"], "factor": r["factor"], "stance": r["stance"],
                         "order": int(r["order"])})
    frame["reports"] = pd.Series([sorted(numbered, key=lambda r: r["order"])], index=frame.index)
    frame["seed"] = int(original["seed"])
    frame["set_id"] = original.get("set_id", frame["set_id"].iloc[0])
    row = {str(k): v for k, v in frame.iloc[0].to_dict().items()}
    before, after = household(original, cat), household(row, cat)
    if before.child.first != after.child.first:
        raise VaryError([f"{', '.join(sorted(changed))}: the change would make the child someone else "
                         f"({after.child.first} instead of {before.child.first}); a minimal pair keeps the child"])
    frame["narrative"] = [render_narrative(row, cat)]
    frame["varied_from"] = str(original["vignette_id"])
    frame["variation"] = "; ".join(describe_changes(original, row, cat))
    return frame
