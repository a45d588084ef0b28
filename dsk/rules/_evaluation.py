"""What both backends return, and the input checks they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.rules.ruleset import Ruleset
from dsk.schema import validate

__all__ = ["Evaluation", "RulesInputError", "vignette_columns"]


class RulesInputError(ValueError):
    """A vignettes table the rules cannot read; the message names the column and row."""


def vignette_columns(vignettes: pd.DataFrame, ruleset: Ruleset,
                     catalogue: Catalogue) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Vignette ids and, for every name the ruleset reads, an int64 array of values.

    Raises
    ------
    RulesInputError
        When ``vignette_id`` or a name is missing, a value is not a whole
        number, or a value is outside the catalogue's range for its name.
    """
    if not isinstance(vignettes, pd.DataFrame):
        raise RulesInputError(f"vignettes: expected a pandas DataFrame, got "
                              f"{type(vignettes).__name__}")
    if "vignette_id" not in vignettes.columns:
        raise RulesInputError("vignettes.vignette_id: column missing")
    ids = vignettes["vignette_id"].to_numpy(dtype=object)
    if not all(isinstance(v, str) for v in ids):
        ids = np.array([str(v) for v in ids], dtype=object)
    columns: dict[str, np.ndarray] = {}
    for name in ruleset.names:
        if name not in vignettes.columns:
            raise RulesInputError(f"vignettes.{name}: column missing (ruleset {ruleset.id!r} "
                                  f"reads it)")
        raw = vignettes[name].to_numpy()
        if raw.dtype.kind not in "iub":
            numeric = pd.to_numeric(vignettes[name], errors="coerce").to_numpy(dtype=float)
            bad = np.isnan(numeric) | (numeric % 1 != 0)
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                raise RulesInputError(f"vignettes.{name}: expected a whole number at row {pos} "
                                      f"vignette_id={ids[pos]!r}, got {raw[pos]!r}")
            raw = numeric
        values = raw.astype(np.int64)
        lo, hi = catalogue.value_range(name)
        bad = (values < lo) | (values > hi)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise RulesInputError(f"vignettes.{name}: value {values[pos]} outside {lo}..{hi} at "
                                  f"row {pos} vignette_id={ids[pos]!r}")
        columns[name] = values
    return ids, columns


@dataclass(frozen=True)
class Evaluation:
    """A ruleset applied to a vignettes table, by either backend.

    Attributes
    ----------
    fired : (n_vignettes, n_rules) bool
        Which rules fired on which vignette (rules in file order).
    need_level, decisive : (n_vignettes,) int
        The decision and the index of the decisive rule (-1 when defaulted).
    margins : (n_vignettes, n_rules) int or None
        See :mod:`dsk.rules.margins`; -1 where a rule can never fire.
    """

    ruleset: Ruleset
    engine: str
    vignette_ids: np.ndarray
    fired: np.ndarray
    need_level: np.ndarray
    decisive: np.ndarray
    conflict: np.ndarray
    defaulted: np.ndarray
    margins: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.vignette_ids)

    def fired_ids(self, row: int) -> list[str]:
        """Ids of the rules that fired on vignette ``row`` (file order)."""
        ids = self.ruleset.rule_ids
        return [ids[j] for j in np.flatnonzero(self.fired[row])]

    def decisions(self) -> pd.DataFrame:
        """The ``decisions`` table (``docs/architecture.md``; one row per vignette)."""
        rs = self.ruleset
        rule_ids = np.array(rs.rule_ids + (None,), dtype=object)
        leads = np.array([r.lead_agency for r in rs.rules] + [None], dtype=object)
        ids_arr = np.array(rs.rule_ids, dtype=object)
        fired_lists = [list(ids_arr[row]) for row in self.fired]
        table = pd.DataFrame({
            "vignette_id": self.vignette_ids,
            "ruleset_id": rs.id,
            "ruleset_version": rs.version,
            "need_level": self.need_level.astype(np.int64),
            "decisive_rule": pd.Series(rule_ids[self.decisive], dtype=object),
            "fired": fired_lists,
            "n_fired": self.fired.sum(axis=1).astype(np.int64),
            "conflict": self.conflict.astype(bool),
            "defaulted": self.defaulted.astype(bool),
            "lead_agency": pd.Series(leads[self.decisive], dtype=object),
        })
        return validate(table, "decisions")

    def trace(self) -> pd.DataFrame:
        """The ``trace`` table: one row per vignette x rule.

        ``margin`` is null where the rule can never fire within the
        catalogue's ranges. Needs an evaluation made with ``margins=True``.
        """
        if self.margins is None:
            raise ValueError("the trace needs margins: evaluate with margins=True")
        rs = self.ruleset
        n, k = self.fired.shape
        decisive = np.zeros((n, k), dtype=bool)
        has = self.decisive >= 0
        decisive[np.flatnonzero(has), self.decisive[has]] = True
        table = pd.DataFrame({  # object columns: the schema check iterates them quickly
            "vignette_id": pd.Series(np.repeat(self.vignette_ids, k), dtype=object),
            "ruleset_id": pd.Series(np.full(n * k, rs.id, dtype=object), dtype=object),
            "rule_id": pd.Series(np.tile(np.array(rs.rule_ids, dtype=object), n), dtype=object),
            "fired": self.fired.reshape(-1),
            "level": np.tile(np.array([r.level for r in rs.rules], dtype=np.int64), n),
            "decisive": decisive.reshape(-1),
        })
        margin = self.margins.reshape(-1)
        table["margin"] = pd.array(np.where(margin < 0, 0, margin), dtype="Int64")
        table.loc[margin < 0, "margin"] = pd.NA
        return validate(table, "trace")
