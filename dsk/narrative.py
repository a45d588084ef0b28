"""Agency reports and the narrative text of a vignette.

A vignette reaches a practitioner the way a real case does: as a sequence of
reports from different agencies. Each present factor is reported by one or
more of the agencies the catalogue says would see it; in some vignettes one
agency reassures about a concern that another has raised (conflicting
information); the order in which reports arrive is recorded, because
practitioners anchor on what they read first.

Inside the package, agency reports are one structure, :class:`Reports`: flat
NumPy arrays with one entry per report, so that large sets are cheap. The
``reports`` column of the vignettes table (per vignette, a list of
``{agency, factor, stance, order}``) is only the table's and the files' form
of it: :func:`reports_to_lists` writes the column and
:meth:`Reports.from_column` is the one place that reads it (the designs and
:func:`dsk.io.read_vignettes` are the edges where it is produced and
checked). The text is rendered from Jinja2
templates in ``vignettes/templates/`` with phrasing varied by the vignette's
own seed, so one vignette re-renders identically on its own.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.design import random_vignettes
>>> cat = load_catalogue()
>>> v = random_vignettes(1, 3, cat)
>>> v["narrative"].iloc[0] == render_narrative(v.iloc[0], cat)
True
>>> reports = Reports.from_column(cat, v["reports"])
>>> reports_to_lists(cat, reports) == list(v["reports"])
True
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from dsk._paths import data_path
from dsk.catalogue import Catalogue

__all__ = [
    "FIRST_NAMES",
    "Reports",
    "ReportsError",
    "render_narrative",
    "reports_to_lists",
    "sample_reports",
    "template_dir",
]

STANCE_CONCERN = 0
STANCE_REASSURE = 1
STANCES = ("concern", "reassure")

#: Names for synthetic children: common, varied, and carrying no meaning.
FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Daniel", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack",
    "Kai", "Layla", "Mason", "Nia", "Oscar", "Poppy", "Reuben", "Sana", "Tyler", "Zara",
    "Aaron", "Bella", "Callum", "Darcy", "Ethan", "Freya", "Hamza", "Imogen", "Jayden", "Leah",
    "Maya", "Noah", "Olivia", "Priya", "Riley", "Sophie", "Theo", "Amira", "Lewis", "Ruby",
)  # fmt: skip


class ReportsError(ValueError):
    """A malformed entry in a ``reports`` column.

    ``row`` is the vignette's position in the column (0-based), ``field`` the
    entry's path (``reports[2].factor``) and ``problem`` what is wrong with it.
    """

    def __init__(self, row: int, field: str, problem: str) -> None:
        super().__init__(f"vignette {row + 1}: field {field!r}: {problem}")
        self.row = row
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Reports:
    """Agency reports of a set of vignettes, one array entry per report.

    ``vignette`` is the row index of the vignette, ``factor`` and ``agency``
    index into the catalogue's factors and agencies, ``stance`` is 0 for a
    concern and 1 for a reassurance, ``order`` is the 1-based position of the
    report within its vignette.
    """

    vignette: np.ndarray
    factor: np.ndarray
    agency: np.ndarray
    stance: np.ndarray
    order: np.ndarray
    n_vignettes: int

    @classmethod
    def from_column(cls, cat: Catalogue, column: Iterable[Iterable[Mapping[str, Any]]]) -> Reports:
        """Read a ``reports`` column: per vignette, a list of {agency, factor, stance, order}.

        The inverse of :func:`reports_to_lists`, and the only reader of the
        column. Entries are sorted by vignette and ``order`` (stable, so ties
        keep their listed order).

        Raises
        ------
        ReportsError
            Naming the vignette's position, the entry and the field, for an
            entry that is not an object, lacks a key, or names an unknown
            factor, agency or stance, or an order that is not a whole number >= 1.
        """
        factor_index = {f: j for j, f in enumerate(cat.factor_ids)}
        agency_index = {a: i for i, a in enumerate(cat.agency_ids)}
        vignette: list[int] = []
        factor: list[int] = []
        agency: list[int] = []
        stance: list[int] = []
        order: list[int] = []
        n = 0
        for i, items in enumerate(column):
            n += 1
            for k, rep in enumerate(items):
                where = f"reports[{k}]"
                if not isinstance(rep, Mapping):
                    raise ReportsError(i, where, "expected an object")
                for key in ("agency", "factor", "stance", "order"):
                    if key not in rep:
                        raise ReportsError(i, f"{where}.{key}", "missing")
                name = rep["factor"]
                if not isinstance(name, str) or name not in factor_index:
                    hint = cat.closest_names(str(name))
                    raise ReportsError(i, f"{where}.factor", f"unknown factor {name!r}"
                                       + (f"; did you mean {', '.join(hint)}?" if hint else ""))
                if not isinstance(rep["agency"], str) or rep["agency"] not in agency_index:
                    raise ReportsError(i, f"{where}.agency", f"unknown agency {rep['agency']!r}")
                if rep["stance"] not in STANCES:
                    raise ReportsError(i, f"{where}.stance",
                                       f"expected concern or reassure, got {rep['stance']!r}")
                position = rep["order"]
                if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or position < 1:
                    raise ReportsError(i, f"{where}.order", f"expected a whole number >= 1, got {position!r}")
                vignette.append(i)
                factor.append(factor_index[name])
                agency.append(agency_index[rep["agency"]])
                stance.append(STANCES.index(rep["stance"]))
                order.append(int(position))
        v, f, a, s, o = (np.array(x, dtype=np.int64) for x in (vignette, factor, agency, stance, order))
        sort = np.argsort(v * (int(o.max(initial=0)) + 1) + o, kind="stable")
        return cls(v[sort], f[sort], a[sort], s[sort], o[sort], n)

    def n_agencies(self) -> np.ndarray:
        """Distinct agencies reporting, per vignette."""
        n_agency = int(self.agency.max()) + 1 if len(self.agency) else 1
        seen = np.zeros((self.n_vignettes, n_agency), dtype=bool)
        seen[self.vignette, self.agency] = True
        return seen.sum(axis=1, dtype=np.int64)

    def n_conflicts(self, protective: np.ndarray) -> np.ndarray:
        """Non-protective factors with both a concern and a reassurance, per vignette."""
        shape = (self.n_vignettes, len(protective))
        concern = np.zeros(shape, dtype=bool)
        reassure = np.zeros(shape, dtype=bool)
        is_concern = self.stance == STANCE_CONCERN
        concern[self.vignette[is_concern], self.factor[is_concern]] = True
        reassure[self.vignette[~is_concern], self.factor[~is_concern]] = True
        return (concern & reassure & ~protective).sum(axis=1, dtype=np.int64)


def sample_reports(
    cat: Catalogue,
    levels: np.ndarray,
    age_band: np.ndarray,
    rng: np.random.Generator,
    conflict_rate: float = 0.25,
    second_report_rate: float = 0.3,
) -> Reports:
    """Draw agency reports for a (n, n_factors) level matrix.

    Every present factor gets one report from an agency the catalogue lists
    for it; each further listed agency reports it too with probability
    ``second_report_rate * (0.5 + severity)`` (more severe concerns reach more
    agencies), up to three reporters in all. With probability ``conflict_rate`` a
    vignette gets one conflicting report: an agency listed for one of its
    present concerns that did not raise it reports no concern about it.
    Only agencies that see a child of the vignette's age (catalogue
    ``agencies.*.ages``) report. Protective factors are reported with the
    ``reassure`` stance. Report order
    is a random permutation within each vignette.
    """
    levels = np.asarray(levels)
    n, n_factors = levels.shape
    age = np.asarray(age_band, dtype=np.int64)
    table = _agency_table(cat)
    protective = cat.protective_mask
    # choose the conflict factor: a random present, non-protective factor per vignette
    eligible = (levels > 0) & ~protective & (table.n_listed > 1)
    keys = np.where(eligible, rng.random((n, n_factors), dtype=np.float32), np.float32(-1))
    conflict_factor = np.where(
        (rng.random(n) < conflict_rate) & eligible.any(axis=1), keys.argmax(axis=1), -1
    )
    # one row per present factor; columns are the factor's listed agencies (padded)
    vig, fac = np.nonzero(levels > 0)
    m, width = vig.size, table.codes.shape[1]
    sees = table.sees[age[vig], fac]  # (m, width): listed and sees a child of this age
    # agencies that cannot report sort last and are never drawn
    perm = np.argsort(rng.random((m, width), dtype=np.float32) + ~sees, axis=1)
    agencies = np.take_along_axis(table.codes[fac], perm, axis=1)
    n_eligible = sees.sum(axis=1)
    severity = levels[vig, fac] / cat.max_levels[fac]
    extra_p = np.clip(second_report_rate * (0.5 + severity), 0, 1)
    extra = (rng.random((m, 2)) < extra_p[:, None]).sum(axis=1)
    n_reporters = np.minimum(1 + extra, n_eligible)
    stance = np.where(protective[fac], STANCE_REASSURE, STANCE_CONCERN)
    slot = np.arange(width)[None, :]
    take = slot < n_reporters[:, None]
    # the conflicting report: the next agency in the permutation after the reporters
    conflict = (conflict_factor[vig] == fac) & (n_reporters < n_eligible)
    reassure = conflict[:, None] & (slot == n_reporters[:, None])
    rows, cols = np.nonzero(take | reassure)
    out_v = vig[rows]
    out_f = fac[rows]
    out_a = agencies[rows, cols]
    out_s = np.where(reassure[rows, cols], STANCE_REASSURE, stance[rows])
    # random order within each vignette; arrays sorted by (vignette, order)
    # (out_v is already ascending, so one float sort on vignette + U[0, 1) shuffles within each)
    sort = np.argsort(out_v + rng.random(out_v.size))
    out_v, out_f, out_a, out_s = out_v[sort], out_f[sort], out_a[sort], out_s[sort]
    starts = np.searchsorted(out_v, np.arange(n))
    order = np.arange(out_v.size) - starts[out_v] + 1
    return Reports(out_v.astype(np.int64), out_f.astype(np.int64), out_a.astype(np.int64),
                   out_s.astype(np.int64), order.astype(np.int64), n)


@dataclass(frozen=True)
class _AgencyTable:
    codes: np.ndarray  # (n_factors, width) agency codes of each factor's listed agencies, padded with 0
    sees: np.ndarray  # (n_ages, n_factors, width) listed and sees a child of that age
    n_listed: np.ndarray  # (n_factors,)


@lru_cache(maxsize=8)
def _agency_table(cat: Catalogue) -> _AgencyTable:
    index = {a: i for i, a in enumerate(cat.agency_ids)}
    width = max(len(f.agencies) for f in cat.factors)
    n_ages = len(cat.child["age_band"].levels)
    codes = np.zeros((len(cat.factors), width), dtype=np.int64)
    sees = np.zeros((n_ages, len(cat.factors), width), dtype=bool)
    for j, f in enumerate(cat.factors):
        for k, name in enumerate(f.agencies):
            codes[j, k] = index[name]
            for age in cat.agency_ages[name]:
                sees[age, j, k] = True
    return _AgencyTable(codes, sees, np.array([len(f.agencies) for f in cat.factors]))


def reports_to_lists(cat: Catalogue, reports: Reports) -> list[list[dict[str, Any]]]:
    """The ``reports`` column: per vignette, a list of {agency, factor, stance, order}."""
    agencies = cat.agency_ids
    factors = cat.factor_ids
    out: list[list[dict[str, Any]]] = [[] for _ in range(reports.n_vignettes)]
    for v, f, a, s, o in zip(
        reports.vignette.tolist(), reports.factor.tolist(), reports.agency.tolist(),
        reports.stance.tolist(), reports.order.tolist(), strict=True,
    ):
        out[v].append({"agency": agencies[a], "factor": factors[f], "stance": STANCES[s], "order": o})
    return out


# ---------------------------------------------------------------- text


def template_dir() -> Path:
    """``vignettes/templates`` bundled in the package."""
    return data_path("vignettes", "templates")


@lru_cache(maxsize=4)
def _environment(path: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(path),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text; the web app escapes on output
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["sentence"] = _sentence
    return env


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else text


def _fill(text: str, name: str) -> str:
    return text.replace("{name}", name).replace("{Name}", name)


def render_narrative(
    vignette: Mapping[str, Any],
    catalogue: Catalogue,
    template: str = "vignette.txt.j2",
) -> str:
    """The narrative text of one vignette (a row of the vignettes table).

    Deterministic: the phrasing is drawn from ``random.Random(vignette["seed"])``.
    The reports are told in their recorded ``order``.
    """
    cat = catalogue
    rng = random.Random(int(vignette["seed"]))
    name = rng.choice(FIRST_NAMES)
    age = cat.child["age_band"]
    age_level = age.levels[int(vignette["age_band"])]
    if age_level == "unborn":
        name = "the baby"
    disability = cat.child["disability"].levels[int(vignette["disability"])]
    env = _environment(str(template_dir()))
    frames: Any = env.get_template("frames.j2").module
    items: list[dict[str, str]] = []
    used: dict[str, set[int]] = {}
    reports = Reports.from_column(cat, [vignette["reports"]])
    agency_ids = cat.agency_ids
    for j, a, stance in zip(reports.factor.tolist(), reports.agency.tolist(), reports.stance.tolist(),
                            strict=True):
        factor = cat.factors[j]
        level = int(vignette[factor.id])
        agency = cat.agencies[agency_ids[a]]
        if stance == STANCE_REASSURE and not factor.protective:
            frame = rng.choice(frames.reassure_frames)
            text = frame.format(agency=agency, topic=_fill(factor.topic, name))
            items.append({"kind": "reassure", "text": _sentence(text)})
            continue
        variants = factor.phrases[level]
        seen = used.setdefault(factor.id, set())
        fresh = [i for i in range(len(variants)) if i not in seen] or list(range(len(variants)))
        pick = rng.choice(fresh)
        seen.add(pick)
        phrase = _fill(variants[pick], name)
        pool = frames.protective_frames if factor.protective else (
            frames.again_frames if len(seen) > 1 else frames.concern_frames
        )
        text = rng.choice(pool).format(agency=agency, phrase=phrase)
        items.append({"kind": "protective" if factor.protective else "concern", "text": _sentence(text)})
    context = {
        "name": name,
        "Name": _sentence(name),
        "age_label": age.labels[age_level],
        "age_level": age_level,
        "disabled": disability != "none",
        "opening": rng.randrange(1000),
        "items": items,
    }
    return env.get_template(template).render(**context).strip()
