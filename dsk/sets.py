"""Bundled vignette sets (``vignettes/sets/`` in the package data): their sources and built files.

Each set has a YAML source: either a design (``design``, ``bands`` or
``n``, ``seed``) or a list of hand-built ``vignettes``. The built file
``<id>.jsonl`` beside it is what studies use; :func:`build_set` rebuilds it
from the source, and a test checks that the committed file matches.

Examples
--------
>>> from dsk.sets import load_set
>>> len(load_set("training-12"))
12
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dsk._paths import data_path
from dsk._yaml import load_yaml
from dsk.catalogue import Catalogue, load_catalogue
from dsk.design import generate, vignettes_from_specs
from dsk.io import read_vignettes, write_table

__all__ = ["build_set", "bundled_sets", "load_set", "sets_dir"]


def sets_dir() -> Path:
    """``vignettes/sets`` bundled in the package.

    >>> sorted(p.name for p in sets_dir().glob("*.yaml"))
    ['core-60.yaml', 'training-12.yaml']
    """
    return data_path("vignettes", "sets")


def bundled_sets() -> list[str]:
    """Ids of the bundled sets (one YAML source each).

    >>> bundled_sets()
    ['core-60', 'training-12']
    """
    return sorted(p.stem for p in sets_dir().glob("*.yaml"))


def build_set(source: str | Path, catalogue: Catalogue) -> pd.DataFrame:
    """Build a vignette set from its YAML source.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> built = build_set(sets_dir() / "core-60.yaml", load_catalogue())
    >>> built["complexity_band"].value_counts().sort_index().to_dict()
    {'high': 20, 'low': 20, 'medium': 20}
    """
    path = Path(source)
    spec: Any = load_yaml(path)
    if not isinstance(spec, dict) or "id" not in spec or "seed" not in spec:
        raise ValueError(f"{path}: a set source needs at least 'id' and 'seed'")
    set_id, seed = str(spec["id"]), int(spec["seed"])
    if "vignettes" in spec:
        return vignettes_from_specs(spec["vignettes"], set_id, seed, catalogue, source=str(path))
    design = str(spec.get("design", "random"))
    n = int(spec.get("n", sum(spec.get("bands", {}).values())))
    return generate(design, n, seed, catalogue, set_id=set_id, bands=spec.get("bands"),
                    dimensions=spec.get("dimensions"))


def load_set(name: str, catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Read a bundled set by id (``core-60``, ``training-12``) or a file path; the catalogue
    defaults to the bundled one, as every loader of bundled data does.

    >>> load_set("core-60")["set_id"].iloc[0]
    'core-60'
    """
    path = Path(name)
    if not path.suffix:
        path = sets_dir() / f"{name}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"no bundled vignette set {name!r}; sets are {', '.join(bundled_sets())}")
    return read_vignettes(path, catalogue if catalogue is not None else load_catalogue())


def write_set(source: str | Path, catalogue: Catalogue) -> Path:
    """Build a set and write ``<id>.jsonl`` beside its source (``dsk vignettes build-sets``)."""
    frame = build_set(source, catalogue)
    return write_table(frame, Path(source).with_name(f"{frame['set_id'].iloc[0]}.jsonl"))
