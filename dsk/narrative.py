"""Agency reports and the narrative text of a vignette.

A vignette reaches a practitioner the way a real case does: as a sequence of
reports from different agencies. Each present factor is reported by one or
more of the agencies the catalogue says would see it; in some vignettes one
agency reassures about a concern that another has raised (conflicting
information); the order in which reports arrive is recorded, because
practitioners anchor on what they read first.

Reports are sampled as flat NumPy arrays (one entry per report) so that
large sets are cheap; :func:`reports_to_lists` turns them into the
``reports`` column of the vignettes table. The text is rendered from Jinja2
templates in ``vignettes/templates/`` with phrasing varied by the vignette's
own seed, so one vignette re-renders identically on its own.

Examples
--------
>>> from dsk.design import random_vignettes
>>> v = random_vignettes(1, seed=3)
>>> v["narrative"].iloc[0] == render_narrative(v.iloc[0])
True
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from dsk.catalogue import Catalogue, load_catalogue

__all__ = [
    "FIRST_NAMES",
    "Reports",
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

    def n_agencies(self) -> np.ndarray:
        """Distinct agencies reporting, per vignette."""
        n_agency = int(self.agency.max()) + 1 if len(self.agency) else 1
        pairs = np.unique(self.vignette * n_agency + self.agency)
        return np.bincount(pairs // n_agency, minlength=self.n_vignettes).astype(np.int64)

    def n_conflicts(self, protective: np.ndarray) -> np.ndarray:
        """Non-protective factors with both a concern and a reassurance, per vignette."""
        n_factor = len(protective)
        key = self.vignette * n_factor + self.factor
        keep = ~protective[self.factor]
        concern = np.unique(key[keep & (self.stance == STANCE_CONCERN)])
        reassure = np.unique(key[keep & (self.stance == STANCE_REASSURE)])
        both = np.intersect1d(concern, reassure, assume_unique=True)
        return np.bincount(both // n_factor, minlength=self.n_vignettes).astype(np.int64)


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
    agencies), up to three reporters. With probability ``conflict_rate`` a
    vignette gets one conflicting report: an agency listed for one of its
    present concerns that did not raise it reports no concern about it.
    Only agencies that see a child of the vignette's age (catalogue
    ``agencies.*.ages``) report. Protective factors are reported with the
    ``reassure`` stance. Report order
    is a random permutation within each vignette.
    """
    levels = np.asarray(levels, dtype=np.int64)
    n, n_factors = levels.shape
    age = np.asarray(age_band, dtype=np.int64)
    agency_ids = {a: i for i, a in enumerate(cat.agency_ids)}
    protective = cat.protective_mask
    # choose the conflict factor: a random present, non-protective factor per vignette
    eligible = (levels > 0) & ~protective & np.array([len(f.agencies) > 1 for f in cat.factors])
    keys = np.where(eligible, rng.random((n, n_factors)), -1.0)
    conflict_factor = np.where(
        (rng.random(n) < conflict_rate) & eligible.any(axis=1), keys.argmax(axis=1), -1
    )
    parts_v: list[np.ndarray] = []
    parts_f: list[np.ndarray] = []
    parts_a: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    for j, factor in enumerate(cat.factors):
        rows = np.flatnonzero(levels[:, j] > 0)
        if rows.size == 0:
            continue
        codes = np.array([agency_ids[a] for a in factor.agencies], dtype=np.int64)
        k = len(codes)
        # agencies that do not see a child of this age sort last and are never drawn
        sees = np.array([[a in cat.agency_ages[name] for name in factor.agencies]
                         for a in range(len(cat.child["age_band"].levels))])[age[rows]]
        perm = np.argsort(rng.random((rows.size, k)) + ~sees, axis=1)
        n_eligible = sees.sum(axis=1)
        severity = levels[rows, j] / factor.max_level
        extra_p = np.clip(second_report_rate * (0.5 + severity), 0, 1)
        extra = (rng.random((rows.size, max(k - 1, 1))) < extra_p[:, None])[:, : k - 1]
        n_reporters = np.minimum(1 + np.minimum(extra.sum(axis=1), 2), n_eligible)
        stance = STANCE_REASSURE if factor.protective else STANCE_CONCERN
        for r in range(min(k, 3)):
            take = n_reporters > r
            parts_v.append(rows[take])
            parts_f.append(np.full(int(take.sum()), j, dtype=np.int64))
            parts_a.append(codes[perm[take, r]])
            parts_s.append(np.full(int(take.sum()), stance, dtype=np.int64))
        # the conflicting report: the next agency in the permutation after the reporters
        conf = (conflict_factor[rows] == j) & (n_reporters < n_eligible)
        if conf.any():
            sel = np.flatnonzero(conf)
            parts_v.append(rows[sel])
            parts_f.append(np.full(sel.size, j, dtype=np.int64))
            parts_a.append(codes[perm[sel, n_reporters[sel]]])
            parts_s.append(np.full(sel.size, STANCE_REASSURE, dtype=np.int64))
    if parts_v:
        vig = np.concatenate(parts_v)
        fac = np.concatenate(parts_f)
        agc = np.concatenate(parts_a)
        stn = np.concatenate(parts_s)
    else:
        vig = fac = agc = stn = np.zeros(0, dtype=np.int64)
    # random order within each vignette; arrays sorted by (vignette, order)
    sort = np.lexsort((rng.random(vig.size), vig))
    vig, fac, agc, stn = vig[sort], fac[sort], agc[sort], stn[sort]
    starts = np.searchsorted(vig, np.arange(n))
    order = np.arange(vig.size) - starts[vig] + 1
    return Reports(vig, fac, agc, stn, order.astype(np.int64), n)


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
    """``vignettes/templates`` beside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "vignettes" / "templates", here / "data" / "templates"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("vignettes/templates not found beside the dsk package")


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
    catalogue: Catalogue | None = None,
    template: str = "vignette.txt.j2",
) -> str:
    """The narrative text of one vignette (a row of the vignettes table).

    Deterministic: the phrasing is drawn from ``random.Random(vignette["seed"])``.
    """
    cat = catalogue or load_catalogue()
    rng = random.Random(int(vignette["seed"]))
    name = rng.choice(FIRST_NAMES)
    age = cat.child["age_band"]
    age_level = age.levels[int(vignette["age_band"])]
    if age_level == "unborn":
        name = "the baby"
    disability = cat.child["disability"].levels[int(vignette["disability"])]
    env = _environment(str(template_dir()))
    frames = env.get_template("frames.j2").module  # type: ignore[attr-defined]
    items: list[dict[str, str]] = []
    used: dict[str, set[int]] = {}
    reports: Sequence[Mapping[str, Any]] = sorted(vignette["reports"], key=lambda r: int(r["order"]))
    for rep in reports:
        factor = cat.factor(rep["factor"])
        level = int(vignette[factor.id])
        agency = cat.agencies[rep["agency"]]
        if rep["stance"] == "reassure" and not factor.protective:
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
