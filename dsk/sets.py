"""Vignette sets written in YAML: the bundled ones (``vignettes/sets/`` in the package data) and yours.

Each set has a YAML source: ``id`` and ``seed``, then either a design
(``design``, ``bands`` or ``n``, ...) or a list of hand-built ``vignettes``
(the format is in ``docs/vignettes.md``). :func:`build_set` builds the table
from a source and reports every problem in it at once (:class:`VignetteSetError`).
The built file ``<id>.jsonl`` beside a bundled source is what studies use; a
test checks that the committed file matches its source.

Examples
--------
>>> from dsk.sets import load_set
>>> len(load_set("training-12"))
12
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from dsk._paths import data_path
from dsk._yaml import load_yaml
from dsk.catalogue import Catalogue, load_catalogue
from dsk.design import (
    DESIGNS,
    SetProblem,
    VignetteSetError,
    _kind,
    check_specs,
    generate,
    vignettes_from_specs,
)
from dsk.io import read_vignettes, write_table
from dsk.schema import BANDS

__all__ = ["SET_KEYS", "VignetteSetError", "build_set", "bundled_sets", "load_set", "sets_dir"]


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


#: The top-level keys of a set source: its id and seed, then hand-built ``vignettes`` or a design.
SET_KEYS = ("id", "seed", "vignettes", "design", "n", "bands", "acute_share", "max_present", "dimensions")
_DESIGN_KEYS = ("design", "n", "bands", "acute_share", "max_present", "dimensions")
_ID = re.compile(r"[A-Za-z0-9_.-]+")
#: Records one top-level problem: key, message, at_key.
_Add = Callable[..., None]


def build_set(source: str | Path, catalogue: Catalogue) -> pd.DataFrame:
    """Build a vignette set from its YAML source (the format is in ``docs/vignettes.md``).

    A source has ``id`` and ``seed``, then either hand-built ``vignettes`` (factor levels per
    vignette; narratives, reports when not given, and complexity are generated) or a design
    (``design``, ``n`` or ``bands``, ``dimensions``, ``acute_share``, ``max_present``).

    Raises
    ------
    VignetteSetError
        Every problem in the file at once, each as ``file:line:column: vignette 'x', field
        'f': problem`` with the offending line and a caret under the bad text.
    dsk._yaml.YamlError
        When the file cannot be read or is not valid YAML.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> built = build_set(sets_dir() / "core-60.yaml", load_catalogue())
    >>> built["complexity_band"].value_counts().sort_index().to_dict()
    {'high': 20, 'low': 20, 'medium': 20}
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp, "mine.yaml")
    ...     _ = path.write_text("id: mine\\nseed: abc\\nvignettes:\\n  - id: a\\n    factors: {hygiene: 1}\\n")
    ...     try:
    ...         build_set(path, load_catalogue())
    ...     except VignetteSetError as exc:
    ...         print(str(exc).replace(tmp, "TMP"))
    TMP/mine.yaml: 2 problems in the vignette set
    TMP/mine.yaml:2:7: field 'seed': expected a whole number, got 'abc'
        2 | seed: abc
          |       ^^^
    TMP/mine.yaml:4:5: vignette 'a', field 'age_band': missing key 'age_band': the child's age band, one of unborn, infant, preschool, primary, secondary
        4 |   - id: a
          |     ^
    """
    path = Path(source)
    label = str(path)
    spec: Any = load_yaml(path)  # a file that cannot be read, or is not YAML, stops here
    text = path.read_text(encoding="utf-8")
    problems: list[SetProblem] = []

    def add(key: str | None, message: str, at_key: bool = False) -> None:
        problems.append(SetProblem((key,) if key is not None else (), None, key, message, at_key))

    if not isinstance(spec, dict):
        add(None, "a set source is a mapping with the keys id, seed and vignettes (or a design), got "
                  f"{_kind(spec)}")
        raise VignetteSetError.from_problems(label, problems, data=spec, text=text)
    for key in spec:
        if key not in SET_KEYS:
            close = difflib.get_close_matches(str(key), SET_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            add(str(key), f"unknown key {str(key)!r}{hint} (keys of a set: {', '.join(SET_KEYS)})", at_key=True)
    set_id = _set_id(spec, add)
    seed = _whole(spec, "seed", add, required=True, minimum=0,
                  what="the seed of the set's random stream, a whole number")
    design_keys = [k for k in _DESIGN_KEYS if k in spec]
    frame: pd.DataFrame | None = None
    if "vignettes" in spec:
        if design_keys:
            add("vignettes", f"give either vignettes or a design, not both (this set also has "
                             f"{', '.join(design_keys)})", at_key=True)
        problems.extend(check_specs(spec["vignettes"], catalogue, prefix=("vignettes",)))
        if not problems and set_id is not None and seed is not None:
            frame = vignettes_from_specs(spec["vignettes"], set_id, seed, catalogue, source=label)
    elif not design_keys:
        add(None, "a set needs its vignettes: hand-built ones under vignettes, or a design "
                  "(design, n or bands, dimensions)")
    else:
        design = _design(spec, catalogue, add)
        if not problems and design is not None and set_id is not None and seed is not None:
            name, n, bands, dimensions = design
            try:
                frame = generate(name, n, seed, catalogue, set_id=set_id, bands=bands,
                                 dimensions=dimensions, acute_share=spec.get("acute_share"),
                                 max_present=spec.get("max_present"))
            except (ValueError, RuntimeError) as exc:
                add("design" if "design" in spec else design_keys[0], str(exc))
    if problems or frame is None:
        raise VignetteSetError.from_problems(label, problems, data=spec, text=text)
    return frame


def _set_id(spec: dict[str, Any], add: _Add) -> str | None:
    if "id" not in spec:
        add("id", "missing key 'id': the set's id, written into every vignette's set_id")
        return None
    raw = spec["id"]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        add("id", f"expected text, got {_kind(raw)}")
        return None
    if not _ID.fullmatch(str(raw)):
        add("id", f"may contain only letters, digits, '_', '.' and '-', got {str(raw)!r}")
        return None
    return str(raw)


def _whole(spec: dict[str, Any], key: str, add: _Add, *, required: bool = False, minimum: int = 0,
           what: str = "") -> int | None:
    if key not in spec:
        if required:
            add(key, f"missing key {key!r}: {what}")
        return None
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int):
        add(key, f"expected a whole number, got {_kind(value)}")
        return None
    if value < minimum:
        add(key, f"must be at least {minimum}, got {value}")
        return None
    return int(value)


def _design(spec: dict[str, Any], cat: Catalogue, add: _Add
            ) -> tuple[str, int, dict[str, int] | None, list[str] | None] | None:
    """The design's name, size, bands and dimensions; None (with problems added) when wrong."""
    ok = True
    name = spec.get("design", "random")
    if name not in DESIGNS:
        close = difflib.get_close_matches(str(name), DESIGNS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        add("design", f"unknown design {_kind(name)}{hint} (designs: {', '.join(DESIGNS)})")
        ok = False
    n = _whole(spec, "n", add, minimum=1)
    ok = ok and ("n" not in spec or n is not None)
    bands: dict[str, int] | None = None
    if "bands" in spec:
        raw = spec["bands"]
        if name != "stratified":
            add("bands", "bands apply only to the stratified design", at_key=True)
            ok = False
        elif not isinstance(raw, dict) or not raw:
            add("bands", f"expected a mapping of complexity band to count ({', '.join(BANDS)}), got {_kind(raw)}")
            ok = False
        else:
            bands = {}
            for band, count in raw.items():
                if band not in BANDS:
                    add("bands", f"unknown complexity band {str(band)!r} (bands: {', '.join(BANDS)})")
                    ok = False
                elif isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    add("bands", f"band {band}: expected a whole number of vignettes, got {_kind(count)}")
                    ok = False
                else:
                    bands[str(band)] = count
            if ok and n is not None and n != sum(bands.values()):
                add("n", f"n is {n} but the bands add up to {sum(bands.values())}: give one or the other")
                ok = False
    if "acute_share" in spec:
        share = spec["acute_share"]
        if name != "stratified":
            add("acute_share", "acute_share applies only to the stratified design", at_key=True)
            ok = False
        elif isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            add("acute_share", f"expected a share from 0 to 1, got {_kind(share)}")
            ok = False
    if "max_present" in spec:
        cap = spec["max_present"]
        if name not in ("random", "stratified"):
            add("max_present", "max_present applies only to the random and stratified designs", at_key=True)
            ok = False
        elif isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            add("max_present", f"expected a whole number of factors of at least 1, got {_kind(cap)}")
            ok = False
    dimensions: list[str] | None = None
    if "dimensions" in spec:
        raw = spec["dimensions"]
        if name != "d-efficient":
            add("dimensions", "dimensions apply only to the d-efficient design", at_key=True)
            ok = False
        elif not isinstance(raw, list) or not raw:
            add("dimensions", f"expected a list of factors or child attributes, got {_kind(raw)}")
            ok = False
        else:
            for dim in raw:
                if not isinstance(dim, str) or (dim not in cat.factor_ids and dim not in cat.child_ids):
                    close = difflib.get_close_matches(str(dim), cat.factor_ids + cat.child_ids, n=1, cutoff=0.6)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    add("dimensions", f"{_kind(dim)} is not a factor or child attribute{hint}")
                    ok = False
            dimensions = [str(d) for d in raw]
    elif name == "d-efficient":
        add("design", "the d-efficient design needs dimensions: the factors or child attributes that vary")
        ok = False
    if n is None and bands is None:
        if "n" not in spec:
            add("design" if "design" in spec else None,
                "missing key 'n': how many vignettes" + (" (or bands)" if name == "stratified" else ""))
        ok = False
    if not ok or name not in DESIGNS:
        return None
    return str(name), n if n is not None else sum((bands or {}).values()), bands, dimensions


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
    cat = catalogue if catalogue is not None else load_catalogue()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    hit = _LOADED.get(key)
    if hit is None or hit[0] is not cat:
        # reading and checking a set costs about 0.15 s; the app reads one for every new study
        _LOADED[key] = hit = (cat, read_vignettes(path, cat))
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
    out = hit[1].copy(deep=True)
    if "reports" in out.columns:  # lists of dicts in cells, which a deep copy does not reach
        out["reports"] = pd.Series([copy.deepcopy(r) for r in out["reports"]], index=out.index, dtype=object)
    return out


#: Sets read already, by file, modification time and size, with the catalogue they were
#: checked against (held, so that a new catalogue cannot take its place unnoticed).
_LOADED: dict[tuple[str, int, int], tuple[Catalogue, pd.DataFrame]] = {}
_LOADED_MAX = 8


def write_set(source: str | Path, catalogue: Catalogue) -> Path:
    """Build a set and write ``<id>.jsonl`` beside its source (``dsk vignettes build-sets``)."""
    frame = build_set(source, catalogue)
    return write_table(frame, Path(source).with_name(f"{frame['set_id'].iloc[0]}.jsonl"))
