"""Where a run's panel came from, and what its judgements hold: for the report's methods.

A panel is simulated (a panel file and the profession profiles), a judgements file, or a study
in the scoring app. :func:`panel_sources` reads which from the manifest's config and describes
each from the run folder alone: the panel file copied to ``inputs/panels/``, the judgements
file's name and SHA-256 from the manifest, or the study export saved in
``inputs/judgements/`` (its ``submitted_at`` column gives the dates). :func:`not_collected`
names the optional judgement columns a human panel left empty, so the report can say so and
leave out what depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from dsk.report._load import RunData

#: Optional judgement columns the report uses, with the words it uses for them.
OPTIONAL_TEXT = {
    "profession": "profession",
    "confidence": "confidence",
    "risk": "risk rating",
    "salient_factors": "salient factors",
    "rationale": "rationale",
    "lead_agency": "lead agency",
    "seconds": "time taken",
}


@dataclass
class Source:
    """One panel of the run, as the methods section describes it."""

    kind: str  # "simulated", "judgements" or "app"
    name: str
    sha256: str | None = None
    study: int | None = None
    first_date: str | None = None
    last_date: str | None = None
    n_raters: int = 0
    by_profession: list[tuple[str, int]] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    # rows: profession label, then counts per site (in ``sites`` order) and the total
    by_site: list[list[Any]] = field(default_factory=list)
    title: str = ""
    seed: int | None = None
    members: list[dict[str, Any]] = field(default_factory=list)


def _empty(series: pd.Series) -> bool:
    """True when no value of the column was collected (all missing, blank or empty lists)."""
    for value in series:
        if value is None:
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            return False
        if isinstance(value, str):
            if value.strip():
                return False
            continue
        try:
            if pd.isna(value):
                continue
        except (TypeError, ValueError):
            return False
        return False
    return True


def collected(series: pd.Series) -> bool:
    """Whether a judgements column holds any value (not all missing, blank or absent).

    >>> collected(pd.Series([None, float("nan"), ""])), collected(pd.Series([None, 0.4]))
    (False, True)
    """
    return not _empty(series)


def not_collected(people: pd.DataFrame) -> list[str]:
    """The optional columns (of :data:`OPTIONAL_TEXT`) with no value in a human panel's rows.

    >>> j = pd.DataFrame({"rater_kind": ["human"], "confidence": [None], "rationale": ["x"]})
    >>> not_collected(j)[:3]
    ['profession', 'confidence', 'risk']
    """
    if people.empty:
        return []
    return [c for c in OPTIONAL_TEXT if c not in people.columns or _empty(people[c])]


def _counts(people: pd.DataFrame, labels: dict[str, str]) -> tuple[list[tuple[str, int]], list[str],
                                                                   list[list[Any]]]:
    raters = people.drop_duplicates("rater_id")
    by_profession: list[tuple[str, int]] = []
    if "profession" in raters.columns and collected(raters["profession"]):
        counts = raters["profession"].fillna("not recorded").astype(str).value_counts()
        by_profession = sorted(((labels.get(str(p), str(p)), int(n)) for p, n in counts.items()),
                               key=lambda x: (-x[1], x[0]))
    sites: list[str] = []
    table: list[list[Any]] = []
    if "site" in raters.columns and collected(raters["site"]):
        site = raters["site"].fillna("not recorded").astype(str)
        sites = sorted(site.unique())
        prof = raters["profession"].fillna("not recorded").astype(str) \
            if "profession" in raters.columns else pd.Series("all", index=raters.index)
        cross = pd.crosstab(prof, site).reindex(columns=sites, fill_value=0)
        for p, row in cross.iterrows():
            values = [int(v) for v in row]
            table.append([labels.get(str(p), str(p)), *values, sum(values)])
        table.sort(key=lambda r: (-int(r[-1]), str(r[0])))
        table.append(["All", *(int(v) for v in cross.sum(axis=0)), int(cross.to_numpy().sum())])
    return by_profession, sites, table


def _dates(frames: list[pd.DataFrame]) -> tuple[str | None, str | None]:
    for frame in frames:
        if "submitted_at" in frame.columns:
            when = pd.to_datetime(frame["submitted_at"], errors="coerce", utc=True).dropna()
            if not when.empty:
                return when.min().date().isoformat(), when.max().date().isoformat()
    return None, None


def _config_panels(data: RunData) -> list[dict[str, Any]]:
    panels = (data.manifest.get("config") or {}).get("panels") or []
    return [p for p in panels if isinstance(p, dict)]


def _input_key(data: RunData, prefix: str, origin: str, name: str) -> str | None:
    """The ``inputs/`` name of a copied file, from the manifest's sources (or by its name)."""
    sources = data.manifest.get("input_sources") or {}
    for key, value in sources.items():
        if key.startswith(prefix) and value == origin:
            return str(key)
    key = f"{prefix}{name}"
    return key if key in (data.manifest.get("inputs") or {}) else None


def panel_sources(data: RunData, people: pd.DataFrame, labels: dict[str, str]) -> list[Source]:
    """Describe each panel of the run (see the module's docstring).

    Without a config in the manifest, the panel is told apart by its rows' ``rater_kind``.
    """
    out: list[Source] = []
    panels = _config_panels(data)
    humans = people[people["rater_kind"] == "human"] if not people.empty else people
    if not panels:
        kinds = set(people["rater_kind"]) if not people.empty else set()
        panels = ([{"panel": "simulated"}] if "simulated" in kinds else []) + \
                 ([{"judgements": "judgements"}] if "human" in kinds else [])
    n_human = sum(1 for p in panels if p.get("panel") is None)
    for spec in panels:
        if spec.get("panel") is not None:
            out.append(_simulated(data, str(spec["panel"]), people, labels))
            continue
        rows = humans
        study = spec.get("study")
        if study is not None and n_human > 1 and "panel_id" in rows.columns:
            rows = rows[rows["panel_id"].astype(str) == f"study-{study}"]
        frames = [rows]
        if spec.get("judgements") is not None:
            origin = str(spec["judgements"])
            key = _input_key(data, "judgements/", origin, Path(origin).name)
            source = Source("judgements", Path(origin).name,
                            sha256=(data.manifest.get("inputs") or {}).get(key) if key else None)
        else:
            source = Source("app", f"study {study}", study=int(study) if study is not None else None)
            key = f"judgements/study-{study}.parquet"
            path = data.run_dir / "inputs" / key
            source.sha256 = (data.manifest.get("inputs") or {}).get(key)
            if path.is_file():
                frames.insert(0, pd.read_parquet(path))
        source.first_date, source.last_date = _dates(frames)
        source.n_raters = int(rows["rater_id"].nunique()) if not rows.empty else 0
        source.by_profession, source.sites, source.by_site = _counts(rows, labels) \
            if not rows.empty else ([], [], [])
        out.append(source)
    return out


def _simulated(data: RunData, panel: str, people: pd.DataFrame, labels: dict[str, str]) -> Source:
    from dsk.panels import PanelError, load_panel

    name = Path(panel).name if Path(panel).suffix else f"{panel}.yaml"
    source = Source("simulated", name)
    path = data.run_dir / "inputs" / "panels" / name
    if path.is_file():
        try:
            spec = load_panel(path, data.professions)
        except PanelError:
            spec = None
        if spec is not None:
            source.name, source.title, source.seed = spec.id, spec.title, spec.seed
            source.members = [{"profession": labels.get(m.profession, m.profession),
                               "experience": f"{m.experience:g}", "count": m.count}
                              for m in spec.members]
            source.n_raters = sum(m.count for m in spec.members)
    source.sha256 = (data.manifest.get("inputs") or {}).get(f"panels/{name}")
    sims = people[people["rater_kind"] == "simulated"] if not people.empty else people
    if not source.n_raters and not sims.empty:
        source.n_raters = int(sims["rater_id"].nunique())
    return source
