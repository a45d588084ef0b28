"""Read a run folder (written by :func:`dsk.experiment.run_experiment`) for the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dsk.schema import RUN_TABLES, STATS_KEY


class RunFolderError(ValueError):
    """A run folder the report cannot read; names the folder and what is missing."""


@dataclass
class RunData:
    """A run's tables, manifest, learned checklists and the rulesets it used."""

    run_dir: Path
    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    learned: dict[str, str]
    rulesets: dict[str, Any] = field(default_factory=dict)

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


def _rulesets(run_dir: Path, manifest: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """Parse the run's rulesets (for ``because`` texts); bundled ones by id, others by path."""
    from dsk.catalogue import load_catalogue
    from dsk.rules import bundled_rulesets, load_ruleset

    catalogue = load_catalogue()
    bundled = bundled_rulesets()
    named = (manifest.get("config") or {}).get("rulesets") or []
    found: dict[str, Any] = {}
    for name in [*ids, *named]:
        candidates = [bundled[name]] if name in bundled else [Path(name), run_dir / name]
        for candidate in candidates:
            try:
                ruleset = load_ruleset(candidate, catalogue)
            except Exception:  # noqa: BLE001 - a missing or moved file leaves the trace without texts
                continue
            found.setdefault(ruleset.id, ruleset)
            break
    return {rid: found[rid] for rid in ids if rid in found}


def load_run(run_dir: str | Path) -> RunData:
    """Read every table, the manifest and the learned checklists of a run folder.

    Parameters
    ----------
    run_dir : path of the run folder.

    Raises
    ------
    RunFolderError
        When the folder does not exist or holds no stats, decisions or judgements table.
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
    return RunData(root, tables, manifest, learned, _rulesets(root, manifest, list(ids)))
