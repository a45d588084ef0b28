"""The factor catalogue: indicators, child attributes, exclusions, derived features.

The catalogue is read once, at the edge, from ``vignettes/factors.yaml`` into
frozen objects. Everything downstream (designs, complexity, narratives, rule
conditions, simulated practitioners) takes a :class:`Catalogue` rather than
reading the file again.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> cat = load_catalogue()
>>> cat.factor("domestic_abuse").domain
'family_environment'
>>> cat.value_range("domestic_abuse")
(0, 3)
>>> cat.level_code("age_band", "infant")
1
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dsk._paths import data_path
from dsk._yaml import LineDict, load_yaml

__all__ = [
    "DOMAINS",
    "NEED_LEVELS",
    "Catalogue",
    "CatalogueError",
    "ChildAttribute",
    "DerivedFeature",
    "Exclusion",
    "Factor",
    "Interaction",
    "default_catalogue_path",
    "load_catalogue",
]

DOMAINS = ("child_development", "parenting_capacity", "family_environment")
NEED_LEVELS = (1, 2, 3, 4)
KINDS = ("binary", "ordinal", "count")
CHILD_ATTRIBUTES = ("age_band", "disability")


class CatalogueError(ValueError):
    """A malformed catalogue. The message names the file, the entry, the field and the line."""

    def __init__(
        self, source: str, entry: str | None, field_name: str | None, problem: str, line: int = 0
    ) -> None:
        where = source + (f", line {line}" if line else "")
        what = ""
        if entry:
            what += f" factor/entry {entry!r}"
        if field_name:
            what += f" field {field_name!r}"
        super().__init__(f"{where}:{what}: {problem}")
        self.source = source
        self.entry = entry
        self.field = field_name
        self.line = line


@dataclass(frozen=True)
class Factor:
    """One indicator of need (or a protective factor).

    Levels are coded 0 (absent) to ``n_levels - 1``; ``threshold[level]`` is the
    need level (1-4) that a threshold document usually attaches to it.
    """

    id: str
    label: str
    domain: str
    kind: str
    levels: tuple[str, ...]
    threshold: tuple[int, ...]
    agencies: tuple[str, ...]
    topic: str
    base_rate: float
    phrases: Mapping[int, tuple[str, ...]]
    protective: bool = False

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def max_level(self) -> int:
        return len(self.levels) - 1


@dataclass(frozen=True)
class ChildAttribute:
    """An attribute of the child (age band, disability), coded 0..k-1."""

    id: str
    levels: tuple[str, ...]
    labels: Mapping[str, str]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Exclusion:
    """When the child attributes match ``when``, cap each factor in ``caps``."""

    id: str
    when: Mapping[str, tuple[int, ...]]
    caps: Mapping[str, int]
    why: str


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from the factor levels (or the reports)."""

    id: str
    label: str
    kind: str  # "count" | "domains" | "agencies"
    factors: tuple[str, ...] = ()
    min_threshold: int | None = None
    min_level: int | None = None
    max_value: int = 0


@dataclass(frozen=True)
class Interaction:
    """Needs that amplify each other: all factor minimums and child conditions met."""

    id: str
    factor_min: Mapping[str, int]
    child_in: Mapping[str, tuple[int, ...]]
    weight: float


@dataclass(frozen=True)
class ComplexitySpec:
    """Parameters of the complexity formulas in :mod:`dsk.complexity`."""

    weights: Mapping[str, float]
    band_medium: float
    band_high: float
    concern_scale: float
    domain_weight: float
    network_scale: float
    conflict_scale: float
    interactions: tuple[Interaction, ...]
    interconnection_scale: float
    turbulence_scale: float
    turbulence_factors: Mapping[str, float]
    emotional_scale: float
    emotional_factors: Mapping[str, float]
    emotional_age: Mapping[int, float]


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The parsed catalogue. Build it with :func:`load_catalogue`."""

    source: str
    need_levels: Mapping[int, tuple[str, str]]
    domains: Mapping[str, str]
    agencies: Mapping[str, str]
    child: Mapping[str, ChildAttribute]
    factors: tuple[Factor, ...]
    exclusions: tuple[Exclusion, ...]
    derived: tuple[DerivedFeature, ...]
    complexity: ComplexitySpec
    agency_ages: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------ look-ups
    @property
    def factor_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.factors)

    @property
    def agency_ids(self) -> tuple[str, ...]:
        return tuple(self.agencies)

    @property
    def derived_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.derived)

    @property
    def child_ids(self) -> tuple[str, ...]:
        return tuple(self.child)

    def factor(self, factor_id: str) -> Factor:
        try:
            return self.factors[self._index[factor_id]]
        except KeyError:
            raise KeyError(self._unknown(factor_id)) from None

    def factor_index(self, factor_id: str) -> int:
        try:
            return self._index[factor_id]
        except KeyError:
            raise KeyError(self._unknown(factor_id)) from None

    def names(self) -> tuple[str, ...]:
        """Every name a condition may use: factors, child attributes, derived features."""
        return self.factor_ids + self.child_ids + self.derived_ids

    def kind_of(self, name: str) -> str:
        """``factor``, ``child`` or ``derived``."""
        if name in self._index:
            return "factor"
        if name in self.child:
            return "child"
        if name in self.derived_ids:
            return "derived"
        raise KeyError(self._unknown(name))

    def value_range(self, name: str) -> tuple[int, int]:
        """Smallest and largest value a name can take."""
        kind = self.kind_of(name)
        if kind == "factor":
            return 0, self.factor(name).max_level
        if kind == "child":
            return 0, len(self.child[name].levels) - 1
        return 0, next(d.max_value for d in self.derived if d.id == name)

    def level_names(self, name: str) -> tuple[str, ...]:
        """Named levels of a factor or child attribute (empty for derived features)."""
        kind = self.kind_of(name)
        if kind == "factor":
            return self.factor(name).levels
        if kind == "child":
            return self.child[name].levels
        return ()

    def level_code(self, name: str, level: str) -> int:
        """The integer code of a named level, e.g. ``level_code("age_band", "infant") == 1``."""
        names = self.level_names(name)
        if level in names:
            return names.index(level)
        hint = difflib.get_close_matches(level, names, n=3)
        raise KeyError(
            f"{name!r} has no level {level!r}; levels are {', '.join(names) or 'numbers only'}"
            + (f" (did you mean {', '.join(hint)}?)" if hint else "")
        )

    def closest_names(self, name: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(name, self.names(), n=n, cutoff=0.5)

    def _unknown(self, name: str) -> str:
        hint = self.closest_names(name)
        return f"unknown name {name!r}" + (
            f"; closest catalogue names: {', '.join(hint)}" if hint else ""
        )

    # ------------------------------------------------------------ arrays
    @property
    def max_levels(self) -> np.ndarray:
        """Largest level of each factor, shape (n_factors,)."""
        return np.array([f.max_level for f in self.factors], dtype=np.int64)

    @property
    def threshold_table(self) -> np.ndarray:
        """``table[f, level]`` = usual need level; padded with the top value."""
        width = max(f.n_levels for f in self.factors)
        table = np.ones((len(self.factors), width), dtype=np.int64)
        for i, f in enumerate(self.factors):
            table[i, : f.n_levels] = f.threshold
            table[i, f.n_levels :] = f.threshold[-1]
        return table

    @property
    def protective_mask(self) -> np.ndarray:
        return np.array([f.protective for f in self.factors], dtype=bool)

    @cached_property
    def _caps_table(self) -> np.ndarray:
        """Caps for every combination of child attributes, shape (n_combos, n_factors)."""
        sizes = [len(self.child[a].levels) for a in self.child_ids]
        combos = np.array(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij")).reshape(len(sizes), -1)
        table = np.broadcast_to(self.max_levels, (combos.shape[1], len(self.factors))).copy()
        for excl in self.exclusions:
            match = np.ones(combos.shape[1], dtype=bool)
            for attr, codes in excl.when.items():
                match &= np.isin(combos[self.child_ids.index(attr)], codes)
            for fid, cap in excl.caps.items():
                j = self._index[fid]
                table[match, j] = np.minimum(table[match, j], cap)
        return table

    def _combo_code(self, child: Mapping[str, np.ndarray]) -> np.ndarray:
        code: np.ndarray | None = None
        for attr in self.child_ids:
            values = np.asarray(child[attr], dtype=np.int64)
            size = len(self.child[attr].levels)
            if values.size and (values.min() < 0 or values.max() >= size):
                raise ValueError(f"child attribute {attr!r} out of range 0-{size - 1}")
            code = values if code is None else code * size + values
        assert code is not None
        return code

    def caps(self, child: Mapping[str, np.ndarray]) -> np.ndarray:
        """Largest plausible level per vignette and factor, shape (n, n_factors).

        ``child`` maps each child attribute to an int array of codes.
        """
        return self._caps_table[self._combo_code(child)]

    def violations(self, levels: np.ndarray, child: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean (n, n_factors): where a level breaks an exclusion or the factor's range."""
        levels = np.asarray(levels)
        return (levels > self.caps(child)) | (levels < 0)

    @cached_property
    def _derive_plan(self) -> dict[tuple[str, int], tuple[list[DerivedFeature], np.ndarray]]:
        """Derived features grouped by what they test, with a (n_factors, k) selection matrix.

        Count features select their factors; domain features select their
        factors once per CAF domain (three columns each).
        """
        groups: dict[tuple[str, int], list[tuple[DerivedFeature, np.ndarray]]] = {}
        for d in self.derived:
            if d.kind == "agencies":
                continue
            key = ("threshold", d.min_threshold) if d.min_threshold is not None else ("level", d.min_level or 1)
            chosen = np.zeros(len(self.factors), dtype=np.float32)
            chosen[[self._index[f] for f in d.factors]] = 1
            if d.kind == "count":
                cols = chosen[:, None]
            else:
                dom = np.array([DOMAINS.index(f.domain) for f in self.factors])
                cols = np.stack([chosen * (dom == k) for k in range(len(DOMAINS))], axis=1)
            groups.setdefault(key, []).append((d, cols.astype(np.float32)))
        return {key: ([d for d, _ in items], np.concatenate([c for _, c in items], axis=1))
                for key, items in groups.items()}

    def need_matrix(self, levels: np.ndarray) -> np.ndarray:
        """Usual need level (1-4) of each factor's current level; 1 for protective factors."""
        levels = np.asarray(levels, dtype=np.int64)
        need = self.threshold_table[np.arange(len(self.factors)), levels]
        need[:, self.protective_mask] = 1
        return need

    def derive(self, levels: np.ndarray, n_agencies: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Compute every derived feature from a (n, n_factors) level matrix.

        ``n_agencies`` (the number of distinct agencies in each vignette's
        reports) is needed for features of kind ``agencies``. Features that
        test the same threshold are counted together in one matrix product.
        """
        levels = np.asarray(levels)
        need: np.ndarray | None = None
        out: dict[str, np.ndarray] = {}
        for (test, value), (features, select) in self._derive_plan.items():
            if test == "threshold":
                if need is None:
                    need = self.need_matrix(levels)
                hit = (need >= value).astype(np.float32)
            else:
                hit = (levels >= value).astype(np.float32)
            counts = np.rint(hit @ select).astype(np.int64)
            col = 0
            for d in features:
                if d.kind == "count":
                    out[d.id] = counts[:, col]
                    col += 1
                else:
                    out[d.id] = (counts[:, col : col + len(DOMAINS)] > 0).sum(axis=1).astype(np.int64)
                    col += len(DOMAINS)
        for d in self.derived:
            if d.kind == "agencies":
                if n_agencies is None:
                    raise ValueError(f"derived feature {d.id!r} needs the agency reports")
                out[d.id] = np.asarray(n_agencies, dtype=np.int64)
        return {d.id: out[d.id] for d in self.derived}


# ---------------------------------------------------------------- parsing


def default_catalogue_path() -> Path:
    """``vignettes/factors.yaml`` bundled in the package."""
    return data_path("vignettes", "factors.yaml")


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Catalogue:
    return parse_catalogue(load_yaml(path), source=path)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a factor catalogue (default: the bundled one)."""
    p = Path(path) if path is not None else default_catalogue_path()
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise CatalogueError(str(p), None, None, f"cannot read: {exc.strerror or exc}") from exc
    return _load_cached(str(p), mtime)


class _Reader:
    """Field access that turns every problem into a CatalogueError."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Any, entry: str | None, key: str | None, problem: str) -> CatalogueError:
        line = 0
        if isinstance(node, LineDict):
            line = node.key_line(key) if key is not None else node.line
        return CatalogueError(self.source, entry, key, problem, line)

    def mapping(self, node: Any, entry: str | None, key: str) -> LineDict:
        value = node.get(key) if isinstance(node, dict) else None
        if not isinstance(value, dict):
            raise self.fail(node, entry, key, f"expected a mapping, got {_describe(value)}")
        return value  # type: ignore[return-value]

    def get(self, node: Any, entry: str | None, key: str, kind: type | tuple[type, ...],
            default: Any = ..., what: str = "") -> Any:
        if not isinstance(node, dict) or key not in node:
            if default is not ...:
                return default
            raise self.fail(node, entry, key, "missing")
        value = node[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(node, entry, key, f"expected {what or _kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(node, entry, key, f"expected {what or _kind_name(kind)}, got {_describe(value)}")
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", list: "a list", dict: "a mapping", bool: "true or false"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def parse_catalogue(data: Any, source: str = "<catalogue>") -> Catalogue:
    """Validate parsed YAML and build a :class:`Catalogue`."""
    r = _Reader(source)
    if not isinstance(data, dict):
        raise CatalogueError(source, None, None, f"expected a mapping at the top level, got {_describe(data)}")

    raw_levels = r.mapping(data, None, "need_levels")
    need_levels: dict[int, tuple[str, str]] = {}
    for lv in NEED_LEVELS:
        item = raw_levels.get(lv)
        if not isinstance(item, dict):
            raise r.fail(raw_levels, "need_levels", str(lv), "each need level 1-4 needs an id and a label")
        need_levels[lv] = (r.get(item, f"need level {lv}", "id", str), r.get(item, f"need level {lv}", "label", str))

    domains_raw = r.mapping(data, None, "domains")
    if tuple(domains_raw) != DOMAINS:
        raise r.fail(data, None, "domains", f"expected exactly the CAF domains {', '.join(DOMAINS)}")
    domains = {k: str(v) for k, v in domains_raw.items()}

    agencies_raw = r.mapping(data, None, "agencies")
    agencies: dict[str, str] = {}
    agency_ages_raw: dict[str, Any] = {}
    for key, value in agencies_raw.items():
        if isinstance(value, str):
            agencies[str(key)] = value
        elif isinstance(value, dict):
            agencies[str(key)] = r.get(value, str(key), "label", str)
            if "ages" in value:
                agency_ages_raw[str(key)] = value
        else:
            raise r.fail(agencies_raw, str(key), None, "expected a label or {label, ages}")

    child_raw = r.mapping(data, None, "child")
    child: dict[str, ChildAttribute] = {}
    for attr in CHILD_ATTRIBUTES:
        node = child_raw.get(attr)
        if not isinstance(node, dict):
            raise r.fail(child_raw, attr, None, "missing child attribute")
        levels = tuple(str(x) for x in r.get(node, attr, "levels", list))
        labels = r.get(node, attr, "labels", dict)
        missing = [lv for lv in levels if lv not in labels]
        if missing:
            raise r.fail(node, attr, "labels", f"no label for {', '.join(missing)}")
        weights = r.get(node, attr, "weights", list)
        if len(weights) != len(levels) or not all(isinstance(w, (int, float)) and w >= 0 for w in weights):
            raise r.fail(node, attr, "weights", f"expected {len(levels)} non-negative numbers")
        total = float(sum(weights))
        if total <= 0:
            raise r.fail(node, attr, "weights", "weights must not all be zero")
        child[attr] = ChildAttribute(attr, levels, dict(labels), tuple(w / total for w in weights))

    factors_raw = r.get(data, None, "factors", list)
    factors: list[Factor] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(factors_raw):
        entry = node.get("id") if isinstance(node, dict) else None
        entry = str(entry) if entry is not None else f"#{i + 1}"
        if not isinstance(node, dict):
            raise CatalogueError(source, entry, None, f"expected a mapping, got {_describe(node)}")
        fid = r.get(node, entry, "id", str)
        if not fid.isidentifier() or fid != fid.lower():
            raise r.fail(node, entry, "id", "ids are lower-case snake_case identifiers")
        if fid in seen or fid in CHILD_ATTRIBUTES:
            raise r.fail(node, entry, "id", "duplicate id")
        seen[fid] = i
        domain = r.get(node, fid, "domain", str)
        if domain not in DOMAINS:
            raise r.fail(node, fid, "domain", f"expected one of {', '.join(DOMAINS)}, got {domain!r}")
        kind = r.get(node, fid, "kind", str)
        if kind not in KINDS:
            raise r.fail(node, fid, "kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        levels = tuple(str(x) for x in r.get(node, fid, "levels", list))
        if len(levels) < 2 or len(set(levels)) != len(levels):
            raise r.fail(node, fid, "levels", "expected at least two distinct levels")
        if kind == "binary" and len(levels) != 2:
            raise r.fail(node, fid, "levels", "a binary factor has exactly two levels")
        if kind == "count" and levels != tuple(str(k) for k in range(len(levels))):
            raise r.fail(node, fid, "levels", "a count factor's levels are 0, 1, 2, ...")
        threshold = r.get(node, fid, "threshold", list)
        if len(threshold) != len(levels) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t in NEED_LEVELS for t in threshold
        ):
            raise r.fail(node, fid, "threshold", f"expected {len(levels)} need levels (1-4), one per level")
        if list(threshold) != sorted(threshold):
            raise r.fail(node, fid, "threshold", "need levels must not fall as severity rises")
        protective = bool(r.get(node, fid, "protective", bool, default=False))
        if not protective and threshold[0] != 1:
            raise r.fail(node, fid, "threshold", "an absent factor maps to need level 1")
        fac_agencies = tuple(r.get(node, fid, "agencies", list))
        unknown = [a for a in fac_agencies if a not in agencies]
        if not fac_agencies or unknown:
            raise r.fail(node, fid, "agencies", f"unknown agencies {unknown}" if unknown else "at least one agency")
        topic = r.get(node, fid, "topic", str)
        base_rate = float(r.get(node, fid, "base_rate", (int, float), what="a probability"))
        if not 0 <= base_rate <= 1:
            raise r.fail(node, fid, "base_rate", f"expected a probability in [0, 1], got {base_rate}")
        phrases_raw = r.get(node, fid, "phrases", dict)
        phrases: dict[int, tuple[str, ...]] = {}
        for lv in range(1, len(levels)):
            variants = phrases_raw.get(lv)
            if not isinstance(variants, list) or not variants or not all(isinstance(p, str) and p for p in variants):
                raise r.fail(node, fid, "phrases", f"level {lv} ({levels[lv]}) needs a list of phrases")
            phrases[lv] = tuple(variants)
        extra = [k for k in phrases_raw if k not in phrases]
        if extra:
            raise r.fail(node, fid, "phrases", f"phrases for levels that do not exist: {extra}")
        label = r.get(node, fid, "label", str)
        factors.append(Factor(fid, label, domain, kind, levels, tuple(threshold), fac_agencies,
                              topic, base_rate, phrases, protective))

    age_levels = child["age_band"].levels
    agency_ages: dict[str, tuple[int, ...]] = {}
    for key in agencies:
        if key in agency_ages_raw:
            node = agency_ages_raw[key]
            ages = r.get(node, key, "ages", list)
            bad = [a for a in ages if a not in age_levels]
            if bad or not ages:
                raise r.fail(node, key, "ages", f"unknown age bands {bad}; bands are {', '.join(age_levels)}")
            agency_ages[key] = tuple(age_levels.index(a) for a in ages)
        else:
            agency_ages[key] = tuple(range(len(age_levels)))
    _check_unique_phrases(factors, source, factors_raw)
    index = {f.id: i for i, f in enumerate(factors)}
    factor_by_id = {f.id: f for f in factors}

    def child_codes(node: LineDict, entry: str, key: str, values: Any) -> tuple[int, ...]:
        attr = child.get(key)
        if attr is None:
            raise r.fail(node, entry, key, "only child attributes (age_band, disability) may appear here")
        if not isinstance(values, list) or not values:
            raise r.fail(node, entry, key, "expected a list of levels")
        bad = [v for v in values if v not in attr.levels]
        if bad:
            raise r.fail(node, entry, key, f"unknown levels {bad}; levels are {', '.join(attr.levels)}")
        return tuple(attr.levels.index(v) for v in values)

    exclusions: list[Exclusion] = []
    for node in r.get(data, None, "exclusions", list, default=[]):
        eid = r.get(node, None, "id", str)
        when_raw = r.mapping(node, eid, "when")
        when = {k: child_codes(when_raw, eid, k, v) for k, v in when_raw.items()}
        caps_raw = r.mapping(node, eid, "max")
        caps: dict[str, int] = {}
        for fid, cap in caps_raw.items():
            if fid not in factor_by_id:
                hint = difflib.get_close_matches(str(fid), list(factor_by_id), n=3)
                raise r.fail(caps_raw, eid, str(fid), "unknown factor" + (f"; did you mean {', '.join(hint)}?" if hint else ""))
            if not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= factor_by_id[fid].max_level:
                raise r.fail(caps_raw, eid, str(fid), f"cap must be a level 0-{factor_by_id[fid].max_level}")
            caps[fid] = cap
        exclusions.append(Exclusion(eid, when, caps, str(node.get("why", ""))))

    derived: list[DerivedFeature] = []
    names_so_far = set(index) | set(CHILD_ATTRIBUTES)
    for node in r.get(data, None, "derived", list, default=[]):
        did = r.get(node, None, "id", str)
        if did in names_so_far:
            raise r.fail(node, did, "id", "duplicate name (factors, child attributes and derived features share one namespace)")
        names_so_far.add(did)
        label = r.get(node, did, "label", str)
        kinds = [k for k in ("count", "domains", "agencies") if k in node]
        if len(kinds) != 1:
            raise r.fail(node, did, None, "exactly one of count, domains or agencies")
        kind = kinds[0]
        if kind == "agencies":
            derived.append(DerivedFeature(did, label, "agencies", max_value=len(agencies)))
            continue
        spec = r.mapping(node, did, kind)
        chosen = [f for f in factors if not f.protective]
        if "factors" in spec:
            listed = spec["factors"]
            bad = [x for x in listed if x not in factor_by_id] if isinstance(listed, list) else [listed]
            if bad:
                raise r.fail(spec, did, "factors", f"unknown factors {bad}")
            chosen = [factor_by_id[x] for x in listed]
        if "domain" in spec:
            if spec["domain"] not in DOMAINS:
                raise r.fail(spec, did, "domain", f"expected one of {', '.join(DOMAINS)}")
            chosen = [f for f in chosen if f.domain == spec["domain"]]
        if spec.get("protective") is True:
            chosen = [f for f in factors if f.protective]
        min_threshold = spec.get("min_threshold")
        min_level = spec.get("min_level")
        if (min_threshold is None) == (min_level is None):
            raise r.fail(spec, did, None, "exactly one of min_threshold or min_level")
        if min_threshold is not None and min_threshold not in NEED_LEVELS:
            raise r.fail(spec, did, "min_threshold", "expected a need level 1-4")
        if min_level is not None and (not isinstance(min_level, int) or min_level < 1):
            raise r.fail(spec, did, "min_level", "expected a level of 1 or more")
        if not chosen:
            raise r.fail(node, did, kind, "selects no factors")
        ids = tuple(f.id for f in chosen)
        max_value = len(ids) if kind == "count" else len({f.domain for f in chosen})
        derived.append(DerivedFeature(did, label, kind, ids, min_threshold, min_level, max_value))

    complexity = _parse_complexity(r, r.mapping(data, None, "complexity"), factor_by_id, child, child_codes)
    cat = Catalogue(source, need_levels, domains, agencies, child, tuple(factors),
                    tuple(exclusions), tuple(derived), complexity, agency_ages, index)
    _check_reporters(cat, factors_raw)
    return cat


def _check_reporters(cat: Catalogue, factors_raw: list[Any]) -> None:
    """Every factor that is plausible at an age must have an agency that sees that age."""
    age = cat.child["age_band"]
    for code, band in enumerate(age.levels):
        caps = cat.caps({"age_band": np.array([code]), "disability": np.array([0])})[0]
        for j, f in enumerate(cat.factors):
            if caps[j] > 0 and not any(code in cat.agency_ages[a] for a in f.agencies):
                node = factors_raw[j]
                line = node.key_line("agencies") if isinstance(node, LineDict) else 0
                raise CatalogueError(cat.source, f.id, "agencies",
                                     f"no listed agency sees a child aged {band!r}; add one or exclude the factor "
                                     "for that age", line)


def _check_unique_phrases(factors: Sequence[Factor], source: str, nodes: Sequence[Any]) -> None:
    """A phrase identifies one factor at one level, so text can be traced back."""
    owner: dict[str, tuple[str, int]] = {}
    for f, node in zip(factors, nodes, strict=True):
        line = node.key_line("phrases") if isinstance(node, LineDict) else 0
        for level, variants in f.phrases.items():
            for p in variants:
                key = p.lower()
                if key in owner:
                    other, other_level = owner[key]
                    raise CatalogueError(source, f.id, "phrases",
                                         f"phrase {p!r} is also used by {other!r} level {other_level}", line)
                owner[key] = (f.id, level)


_DIMENSIONS = ("multiplicity", "interconnection", "network", "conflict", "turbulence", "emotional")


def _parse_complexity(r: _Reader, node: LineDict, factor_by_id: Mapping[str, Factor],
                      child: Mapping[str, ChildAttribute], child_codes: Any) -> ComplexitySpec:
    entry = "complexity"
    weights_raw = r.mapping(node, entry, "weights")
    if set(weights_raw) != set(_DIMENSIONS):
        raise r.fail(node, entry, "weights", f"expected weights for exactly {', '.join(_DIMENSIONS)}")
    weights = {k: float(weights_raw[k]) for k in _DIMENSIONS}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise r.fail(node, entry, "weights", "weights are non-negative and not all zero")
    bands = r.mapping(node, entry, "bands")
    medium = float(r.get(bands, entry, "medium", (int, float)))
    high = float(r.get(bands, entry, "high", (int, float)))
    if not 0 < medium < high < 1:
        raise r.fail(bands, entry, "bands", "expected 0 < medium < high < 1")

    def scale(section: str, key: str = "scale") -> float:
        sec = r.mapping(node, entry, section)
        value = float(r.get(sec, section, key, (int, float)))
        if value <= 0:
            raise r.fail(sec, section, key, "must be positive")
        return value

    def weighted_factors(section: str) -> dict[str, float]:
        sec = r.mapping(node, entry, section)
        fw = r.mapping(sec, section, "factors")
        bad = [k for k in fw if k not in factor_by_id]
        if bad:
            raise r.fail(fw, section, str(bad[0]), "unknown factor")
        return {k: float(v) for k, v in fw.items()}

    interactions: list[Interaction] = []
    for item in r.get(node, entry, "interactions", list):
        iid = r.get(item, "interactions", "id", str)
        when = r.mapping(item, iid, "when")
        fmin: dict[str, int] = {}
        cin: dict[str, tuple[int, ...]] = {}
        for k, v in when.items():
            if k in factor_by_id:
                if not isinstance(v, int) or not 1 <= v <= factor_by_id[k].max_level:
                    raise r.fail(when, iid, k, f"expected a minimum level 1-{factor_by_id[k].max_level}")
                fmin[k] = v
            else:
                cin[k] = child_codes(when, iid, k, v)
        if not fmin:
            raise r.fail(item, iid, "when", "an interaction needs at least one factor")
        interactions.append(Interaction(iid, fmin, cin, float(r.get(item, iid, "weight", (int, float)))))

    emo = r.mapping(node, entry, "emotional")
    age_raw = r.get(emo, "emotional", "age_band", dict, default={})
    age = {child["age_band"].levels.index(k): float(v) for k, v in age_raw.items() if k in child["age_band"].levels}
    if len(age) != len(age_raw):
        raise r.fail(emo, "emotional", "age_band", f"levels are {', '.join(child['age_band'].levels)}")
    mult = r.mapping(node, entry, "multiplicity")
    return ComplexitySpec(
        weights=weights,
        band_medium=medium,
        band_high=high,
        concern_scale=scale("multiplicity", "concern_scale"),
        domain_weight=float(r.get(mult, "multiplicity", "domain_weight", (int, float))),
        network_scale=scale("network"),
        conflict_scale=scale("conflict"),
        interactions=tuple(interactions),
        interconnection_scale=scale("interconnection"),
        turbulence_scale=scale("turbulence"),
        turbulence_factors=weighted_factors("turbulence"),
        emotional_scale=scale("emotional"),
        emotional_factors=weighted_factors("emotional"),
        emotional_age=age,
    )
