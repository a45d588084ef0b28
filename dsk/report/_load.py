"""Read a run folder (written by :func:`dsk.experiment.run_experiment`) for the report.

The report reads only the run folder: its tables, its manifest, its learned checklists and
the copies of its inputs in ``inputs/`` (catalogue, professions, rulesets). It never reads the
data bundled with the package, so a run re-renders the same bytes wherever it is copied and
whatever the installed package ships (``docs/architecture.md``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsk.schema import RUN_TABLES, STATS_KEY

if TYPE_CHECKING:
    from dsk.catalogue import Catalogue
    from dsk.panels import ProfessionProfile
    from dsk.rules import Ruleset



class RunFolderError(ValueError):
    """A run folder the report cannot read; names the folder and what is missing."""


@dataclass
class RunData:
    """A run's tables, manifest, learned checklists, and the catalogue, professions and rulesets
    it used (read from its ``inputs/``)."""

    run_dir: Path
    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    learned: dict[str, str]
    catalogue: Catalogue
    professions: dict[str, ProfessionProfile]
    rulesets: dict[str, Ruleset] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """The table, or an empty frame when the run did not write it."""
        return self.tables.get(name, pd.DataFrame())

    def has(self, name: str, *columns: str) -> bool:
        """True when the table has rows and the given columns."""
        frame = self.table(name)
        return not frame.empty and all(c in frame.columns for c in columns)


def _read(path: Path) -> pd.DataFrame:
    if path.with_suffix(".parquet").exists():
        return pd.read_parquet(path.with_suffix(".parquet"))
    return pd.DataFrame()


def _input(root: Path, name: str) -> Path:
    path = root / "inputs" / name
    if not path.is_file():
        raise RunFolderError(f"{root}: no inputs/{name}; the folder was written before runs kept "
                             "their inputs: run the experiment again")
    return path


def _catalogue(root: Path) -> Catalogue:
    from dsk.catalogue import CatalogueError, load_catalogue

    path = _input(root, "catalogue.yaml")
    try:
        return load_catalogue(path)
    except CatalogueError as exc:
        raise RunFolderError(str(exc)) from exc


def _professions(root: Path, catalogue: Catalogue) -> dict[str, ProfessionProfile]:
    from dsk.panels import PanelError, load_professions

    path = _input(root, "professions.yaml")
    try:
        return load_professions(path, catalogue=catalogue)
    except PanelError as exc:
        raise RunFolderError(str(exc)) from exc


def _rulesets(root: Path, catalogue: Catalogue, ids: list[str]) -> dict[str, Ruleset]:
    """The run's rulesets (for ``because`` texts) from ``inputs/rules/``, by ruleset id."""
    from dsk.rules import RulesetError, load_ruleset

    found: dict[str, Ruleset] = {}
    for path in sorted((root / "inputs" / "rules").glob("*.yaml")):
        try:
            ruleset = load_ruleset(path, catalogue)
        except RulesetError as exc:
            raise RunFolderError(str(exc)) from exc
        found.setdefault(ruleset.id, ruleset)
    return {rid: found[rid] for rid in ids if rid in found}


def load_run(run_dir: str | Path) -> RunData:
    """Read every table, the manifest and the learned checklists of a run folder.

    Parameters
    ----------
    run_dir : path of the run folder.

    Raises
    ------
    RunFolderError
        When the folder does not exist, holds no stats, decisions or judgements table, or lacks
        the copies of its catalogue and professions in ``inputs/``.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise RunFolderError(f"{root}: no such run folder")
    tables = {name: _read(root / name) for name in RUN_TABLES}
    if all(tables[n].empty for n in ("stats", "decisions", "judgements")):
        raise RunFolderError(f"{root}: no stats, decisions or judgements table (.parquet) found; "
                             "is this a folder written by `dsk run`?")
    stats = tables["stats"]
    if not stats.empty:
        tables["stats"] = stats.drop_duplicates(list(STATS_KEY), keep="first").reset_index(drop=True)
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    learned_dir = root / "learned"
    learned = {p.stem: p.read_text(encoding="utf-8")
               for p in sorted(learned_dir.glob("*.yaml"))} if learned_dir.is_dir() else {}
    decisions = tables["decisions"]
    ids = sorted(decisions["ruleset_id"].unique()) if "ruleset_id" in decisions else []
    catalogue = _catalogue(root)
    return RunData(run_dir=root, tables=tables, manifest=manifest, learned=learned, catalogue=catalogue,
                   professions=_professions(root, catalogue),
                   rulesets=_rulesets(root, catalogue, [str(i) for i in ids]))
