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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dsk._paths import data_path
from dsk._yaml import line_of, load_yaml

__all__ = [
    "DOMAINS",
    "NEED_LEVELS",
    "Catalogue",
    "CatalogueError",
    "CatalogueProblem",
    "ChildAttribute",
    "DerivedFeature",
    "Exclusion",
    "Factor",
    "Interaction",
    "PLACEHOLDERS",
    "Phrase",
    "ROLES",
    "default_catalogue_path",
    "load_catalogue",
]

DOMAINS = ("child_development", "parenting_capacity", "family_environment")
NEED_LEVELS = (1, 2, 3, 4)
KINDS = ("binary", "ordinal", "count")
CHILD_ATTRIBUTES = ("age_band", "disability")


@dataclass(frozen=True)
class CatalogueProblem:
    """One problem in a catalogue file: where it is and what is wrong.

    ``entry`` says which entry in plain words (``factor 'domestic_abuse'``,
    ``exclusion 'school-age-only'``, ``need level 2``); ``field`` is the key
    path inside that entry (``threshold``, ``max.school_attendance``). Either
    is ``None`` for problems at the top of the file.
    """

    line: int
    entry: str | None
    field: str | None
    problem: str

    def describe(self, source: str) -> str:
        """``file, line N: entry, field 'f': problem``."""
        where = source + (f", line {self.line}" if self.line else "")
        what = ", ".join(x for x in (self.entry, f"field {self.field!r}" if self.field else None) if x)
        return f"{where}: {what + ': ' if what else ''}{self.problem}"


class CatalogueError(ValueError):
    """A malformed catalogue. Lists every problem found, each with its file, line, entry and field.

    ``source``, ``entry``, ``field`` and ``line`` describe the first problem
    (in file order); ``problems`` holds them all.
    """

    def __init__(
        self, source: str, entry: str | None, field_name: str | None, problem: str, line: int = 0,
        problems: Sequence[CatalogueProblem] = (),
    ) -> None:
        found = tuple(problems) or (CatalogueProblem(line, entry, field_name, problem),)
        if len(found) == 1:
            message = found[0].describe(source)
        else:
            message = "\n".join([f"{source}: {len(found)} problems in the catalogue:",
                                  *(f"  {p.describe(source)}" for p in found)])
        super().__init__(message)
        first = found[0]
        self.source = source
        self.entry = first.entry
        self.field = first.field
        self.line = first.line
        self.problems = found


#: Household roles a phrase may name (declared in its ``needs``), with their placeholders.
#: The child (``{name}``, ``{he}``...) and the main carer (``{carer}``...) are always there;
#: ``mother`` has no placeholder of its own: it makes the main carer the child's mother, and
#: ``girl`` makes the child a girl; ``separated`` holds in a household where the child's parents
#: do not live together (a phrase about a parent who left needs it).
ROLES: Mapping[str, tuple[str, ...]] = {
    "mother": (),
    "girl": (),
    "separated": (),
    "adult": ("adult", "adult_he", "adult_him", "adult_his"),
    "partner": ("partner",),
    "grandmother": ("grandmother",),
    "sibling": ("sibling",),
}
#: Placeholders every phrase may use.
PLACEHOLDERS = ("name", "Name", "he", "him", "his", "carer", "carer_he", "carer_him", "carer_his")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Phrase:
    """One way of telling a factor at a level, and where it fits.

    ``ages`` holds the age-band codes it may be used at (all when empty);
    ``needs`` the household roles (:data:`ROLES`) it names.
    """

    text: str
    ages: tuple[int, ...] = ()
    needs: tuple[str, ...] = ()

    def fits(self, age: int) -> bool:
        return not self.ages or age in self.ages


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
    #: the phrases with their constraints; ``phrases`` holds their texts
    phrase_rules: Mapping[int, tuple[Phrase, ...]] = field(default_factory=dict)
    #: household roles that exist whenever the factor is present
    needs: tuple[str, ...] = ()
    #: what a school-age child says about it, by level (may be empty)
    child_view: Mapping[int, tuple[Phrase, ...]] = field(default_factory=dict)

    def usable_phrases(self, level: int, age: int) -> tuple[Phrase, ...]:
        """The phrases of ``level`` that fit a child of age band ``age``."""
        rules = self.phrase_rules.get(level) or tuple(Phrase(t) for t in self.phrases[level])
        return tuple(p for p in rules if p.fits(age))

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
    """Load and validate a factor catalogue (default: the bundled one).

    Raises
    ------
    CatalogueError
        listing every problem in the file, each with its line, entry and field.
    """
    p = Path(path) if path is not None else default_catalogue_path()
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise CatalogueError(str(p), None, None, f"cannot read: {exc.strerror or exc}") from exc
    return _load_cached(str(p), mtime)


# The file is checked in two layers, and every problem found is collected so
# that one CatalogueError lists them all, each with its line:
#
# 1. pydantic models check each entry on its own: required fields, types,
#    allowed values and the relations between an entry's own fields (a
#    factor's thresholds against its levels). Entries are validated one at a
#    time, so a broken entry does not hide the problems of the others.
# 2. plain functions then check what needs the whole catalogue: references
#    between entries (agencies, factors, child levels), duplicate names,
#    phrases used twice, and that every factor plausible at an age has an
#    agency that sees children of that age. A name whose entry is itself
#    broken still counts as known, so one mistake is reported once.

_DIMENSIONS = ("multiplicity", "interconnection", "network", "conflict", "turbulence", "emotional")


def _as_text(value: Any) -> Any:
    """Level names may be written as numbers (``levels: [0, 1, 2]``) or YAML booleans."""
    return str(value) if isinstance(value, (bool, int, float)) else value


def _must(ok: Callable[[Any], bool], problem: str) -> AfterValidator:
    """A one-field check; ``problem`` may name the value as ``{value}``."""
    def check(value: Any) -> Any:
        if not ok(value):
            raise ValueError(problem.format(value=value))
        return value

    return AfterValidator(check)


def _one_of(options: Sequence[str]) -> AfterValidator:
    return _must(lambda v: v is None or v in options, f"expected one of {', '.join(options)}, got {{value!r}}")


_LevelName = Annotated[str, BeforeValidator(_as_text)]
_Positive = Annotated[float, _must(lambda v: v > 0, "must be positive")]


class _Entry(BaseModel):
    """An entry of the file: strict types (no ``"3"`` for 3, no ``true`` for 1), no unknown keys."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class _Top(_Entry):
    """The top of the file: which sections exist and their shapes. Sections are checked entry by entry."""

    version: int | None = None
    need_levels: dict[Any, Any]
    domains: dict[Any, Any]
    agencies: dict[Any, Any]
    child: dict[Any, Any]
    factors: Annotated[list[Any], _must(bool, "expected at least one factor")]
    exclusions: list[Any] = []
    derived: list[Any] = []
    complexity: dict[Any, Any]


class _NeedLevelIn(_Entry):
    id: str
    label: str


class _AgencyIn(_Entry):
    label: str
    ages: Annotated[list[str] | None, _must(lambda v: v is None or v, "expected at least one age band "
                                                                       "(leave ages out for all ages)")] = None

    @model_validator(mode="before")
    @classmethod
    def _label_only(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"label": value}
        if not isinstance(value, dict):
            raise ValueError(f"expected a label or {{label, ages}}, got {_describe(value)}")
        return value


class _ChildIn(_Entry):
    levels: list[_LevelName]
    labels: dict[str, str]
    weights: list[float]

    @field_validator("labels")
    @classmethod
    def _labelled(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        missing = [lv for lv in info.data.get("levels", ()) if lv not in value]
        if missing:
            raise ValueError(f"no label for {', '.join(missing)}")
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: list[float], info: ValidationInfo) -> list[float]:
        levels = info.data.get("levels")
        if (levels is not None and len(value) != len(levels)) or any(w < 0 for w in value):
            raise ValueError(f"expected {len(levels) if levels is not None else 'one'} non-negative numbers"
                             + (", one per level" if levels is not None else " per level"))
        if sum(value) <= 0:
            raise ValueError("weights must not all be zero")
        return value


class _PhraseIn(_Entry):
    text: Annotated[str, _must(lambda v: bool(v.strip()), "expected some text")]
    ages: list[str] = []
    needs: list[str] = []


class _FactorIn(_Entry):
    # Fields are validated in this order; a validator sees the fields above it in ``info.data``.
    id: Annotated[str, _must(lambda v: v.isidentifier() and v == v.lower(),
                             "ids are lower-case snake_case identifiers")]
    label: str
    domain: Annotated[str, _one_of(DOMAINS)]
    kind: Annotated[str, _one_of(KINDS)]
    levels: list[_LevelName]
    protective: bool = False
    threshold: list[int]
    agencies: Annotated[list[str], _must(bool, "at least one agency")]
    topic: str
    base_rate: Annotated[float, _must(lambda v: 0 <= v <= 1, "expected a probability in [0, 1], got {value}")]
    phrases: dict[int, list[str | _PhraseIn]]
    needs: list[str] = []
    child_view: dict[int, list[str | _PhraseIn]] = {}

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("kind")
        if len(value) < 2 or len(set(value)) != len(value):
            raise ValueError("expected at least two distinct levels")
        if kind == "binary" and len(value) != 2:
            raise ValueError("a binary factor has exactly two levels")
        if kind == "count" and value != [str(k) for k in range(len(value))]:
            raise ValueError("a count factor's levels are 0, 1, 2, ...")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: list[int], info: ValidationInfo) -> list[int]:
        levels = info.data.get("levels")
        if (levels is not None and len(value) != len(levels)) or not all(t in NEED_LEVELS for t in value):
            count = f"{len(levels)} " if levels is not None else ""
            raise ValueError(f"expected {count}need levels (1-4), one per level")
        if value != sorted(value):
            raise ValueError("need levels must not fall as severity rises")
        if not info.data.get("protective", False) and value and value[0] != 1:
            raise ValueError("an absent factor maps to need level 1")
        return value

    @field_validator("phrases")
    @classmethod
    def _phrases(cls, value: dict[int, list[str | _PhraseIn]], info: ValidationInfo
                 ) -> dict[int, list[str | _PhraseIn]]:
        levels = info.data.get("levels")
        if levels is None:
            return value
        wrong = [f"level {lv} ({levels[lv]}) needs a list of phrases" for lv in range(1, len(levels))
                 if not value.get(lv) or not all(value[lv])]
        extra = [k for k in value if not 1 <= k < len(levels)]
        if extra:
            wrong.append(f"phrases for levels that do not exist: {extra}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return value


class _ExclusionIn(_Entry):
    id: str
    when: dict[str, list[_LevelName]]
    max: dict[str, int]
    why: str = ""


class _SelectionIn(_Entry):
    factors: list[str] | None = None
    domain: Annotated[str | None, _one_of(DOMAINS)] = None
    protective: bool | None = None
    min_threshold: Annotated[int | None, _must(lambda v: v is None or v in NEED_LEVELS,
                                               "expected a need level 1-4")] = None
    min_level: Annotated[int | None, _must(lambda v: v is None or v >= 1, "expected a level of 1 or more")] = None

    @model_validator(mode="after")
    def _one_test(self) -> _SelectionIn:
        if (self.min_threshold is None) == (self.min_level is None):
            raise ValueError("exactly one of min_threshold or min_level")
        return self


class _NoOptions(_Entry):
    """``agencies: {}``: the number of agencies reporting takes no options."""


class _DerivedIn(_Entry):
    id: str
    label: str
    count: _SelectionIn | None = None
    domains: _SelectionIn | None = None
    agencies: _NoOptions | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> _DerivedIn:
        if sum(x is not None for x in (self.count, self.domains, self.agencies)) != 1:
            raise ValueError("exactly one of count, domains or agencies")
        return self

    @property
    def kind(self) -> str:
        return "count" if self.count is not None else "domains" if self.domains is not None else "agencies"


class _ScaleIn(_Entry):
    scale: _Positive


class _BandsIn(_Entry):
    medium: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> _BandsIn:
        if not 0 < self.medium < self.high < 1:
            raise ValueError("expected 0 < medium < high < 1")
        return self


class _MultiplicityIn(_Entry):
    concern_scale: _Positive
    domain_weight: float


class _InteractionIn(_Entry):
    id: str
    when: dict[str, Any]
    weight: float


class _WeightedIn(_Entry):
    scale: _Positive
    factors: dict[str, float]


class _EmotionalIn(_WeightedIn):
    age_band: dict[str, float] = {}


class _ComplexityIn(_Entry):
    weights: dict[str, float]
    bands: _BandsIn
    multiplicity: _MultiplicityIn
    network: _ScaleIn
    conflict: _ScaleIn
    interactions: list[Any]  # checked one by one as _InteractionIn
    interconnection: _ScaleIn
    turbulence: _WeightedIn
    emotional: _EmotionalIn

    @field_validator("weights")
    @classmethod
    def _dimensions(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(_DIMENSIONS):
            raise ValueError(f"expected weights for exactly {', '.join(_DIMENSIONS)}")
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("weights are non-negative and not all zero")
        return value


# ------------------------------------------------------------ problems and their places

_LIST_SECTIONS = {"factors": "factor", "exclusions": "exclusion", "derived": "derived feature"}
_MAP_SECTIONS = {"need_levels": "need level", "agencies": "agency", "child": "child attribute"}
_PLAIN_TYPES = {
    "string_type": "expected text", "int_type": "expected a whole number", "float_type": "expected a number",
    "bool_type": "expected true or false", "list_type": "expected a list", "dict_type": "expected a mapping",
    "model_type": "expected a mapping", "int_from_float": "expected a whole number",
}

Loc = tuple[str | int, ...]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def _entry_and_field(data: Any, loc: Loc) -> tuple[str | None, str | None]:
    """Name the entry a key path points into, in plain words, and the field inside it."""
    def ident(node: Any, i: int) -> str:
        value = node.get("id") if isinstance(node, dict) else None
        return repr(str(value)) if isinstance(value, (str, int)) else f"#{i + 1}"

    def item(section: Any, i: int) -> Any:
        return section[i] if isinstance(section, list) and i < len(section) else None

    def join(parts: Loc) -> str | None:
        return ".".join(str(p) for p in parts) or None

    if not loc:
        return None, None
    head, rest = loc[0], loc[1:]
    section = data.get(head) if isinstance(data, dict) else None
    if head in _LIST_SECTIONS and rest and isinstance(rest[0], int):
        return f"{_LIST_SECTIONS[str(head)]} {ident(item(section, rest[0]), rest[0])}", join(rest[1:])
    if head in _MAP_SECTIONS and rest:
        name = f"{rest[0]}" if head == "need_levels" else repr(str(rest[0]))
        return f"{_MAP_SECTIONS[str(head)]} {name}", join(rest[1:])
    if head == "complexity" and rest:
        if rest[:1] == ("interactions",) and len(rest) > 1 and isinstance(rest[1], int):
            interactions = section.get("interactions") if isinstance(section, dict) else None
            return f"interaction {ident(item(interactions, rest[1]), rest[1])}", join(rest[2:])
        return "complexity", join(rest)
    return None, join(loc)


def _field_names(model: Any, loc: Loc) -> list[str]:
    """Field names of the model found by following ``loc`` from ``model`` (empty if none)."""
    current = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[str(part)].annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
        models = [a for a in (get_args(current) or (current,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = models[0] if models else current
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


_M = TypeVar("_M", bound=BaseModel)


class _Problems:
    """Collects the problems of one catalogue file."""

    def __init__(self, source: str, data: Any) -> None:
        self.source = source
        self.data = data
        self.found: list[CatalogueProblem] = []

    def add(self, loc: Loc, problem: str) -> None:
        entry, field_name = _entry_and_field(self.data, loc)
        self.found.append(CatalogueProblem(line_of(self.data, loc), entry, field_name, problem))

    def check(self, model: type[_M], value: Any, loc: Loc) -> _M | None:
        """Validate one entry; record its problems and return None when it is broken."""
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                inner = tuple(p for p in err["loc"] if p != "[key]")
                self.add(loc + inner, self._plain(err, model, inner))
            return None

    @staticmethod
    def _plain(err: Any, model: type[BaseModel], inner: Loc) -> str:
        kind = err["type"]
        if kind == "value_error":
            return str(err["ctx"]["error"])
        if kind == "missing":
            return "missing"
        if kind == "extra_forbidden":
            allowed = _field_names(model, inner[:-1])
            hint = difflib.get_close_matches(str(inner[-1]), allowed, n=1) if inner else []
            return "unknown field" + (f"; did you mean {hint[0]}?" if hint else
                                      f"; fields here are {', '.join(allowed)}" if allowed else "")
        if kind in _PLAIN_TYPES:
            return f"{_PLAIN_TYPES[kind]}, got {_describe(err.get('input'))}"
        return str(err["msg"])

    def error(self) -> CatalogueError | None:
        if not self.found:
            return None
        ordered = sorted(self.found, key=lambda p: p.line)
        first = ordered[0]
        return CatalogueError(self.source, first.entry, first.field, first.problem, first.line, ordered)


# ------------------------------------------------------------ parsing


def _entries(data: Mapping[str, Any], section: str, kind: type) -> list[tuple[Any, Any]]:
    """(key or index, raw entry) of a section, or nothing when the section is absent or of the wrong shape."""
    node = data.get(section)
    if kind is dict:
        return list(node.items()) if isinstance(node, dict) else []
    return list(enumerate(node)) if isinstance(node, list) else []


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def parse_catalogue(data: Any, source: str = "<catalogue>") -> Catalogue:
    """Validate parsed YAML and build a :class:`Catalogue`.

    Raises
    ------
    CatalogueError
        listing every problem found, in file order.

    Examples
    --------
    >>> from dsk._yaml import load_yaml
    >>> data = load_yaml(default_catalogue_path())
    >>> data["factors"][0]["domain"] = "child_developmnt"
    >>> data["factors"][1]["base_rate"] = 2
    >>> try:
    ...     parse_catalogue(data, source="factors.yaml")
    ... except CatalogueError as exc:
    ...     print(exc)
    factors.yaml: 2 problems in the catalogue:
      factors.yaml, line 63: factor 'health_appointments', field 'domain': expected one of child_development, \
parenting_capacity, family_environment, got 'child_developmnt'
      factors.yaml, line 102: factor 'school_attendance', field 'base_rate': expected a probability in [0, 1], got 2.0
    """
    if not isinstance(data, dict):
        raise CatalogueError(source, None, None, f"expected a mapping at the top level, got {_describe(data)}")
    out = _Problems(source, data)
    out.check(_Top, data, ())

    # need levels, domains, agencies, child attributes
    need_levels: dict[int, tuple[str, str]] = {}
    for key, node in _entries(data, "need_levels", dict):
        level = out.check(_NeedLevelIn, node, ("need_levels", key))
        if key not in NEED_LEVELS:
            out.add(("need_levels", key), "need levels are 1, 2, 3 and 4")
        elif level is not None:
            need_levels[key] = (level.id, level.label)
    missing = [lv for lv in NEED_LEVELS if isinstance(data.get("need_levels"), dict) and lv not in data["need_levels"]]
    if missing:
        out.add(("need_levels",), f"missing need levels {missing}; each of 1-4 needs an id and a label")
    need_levels = {lv: need_levels[lv] for lv in NEED_LEVELS if lv in need_levels}

    domains_raw = data.get("domains")
    if isinstance(domains_raw, dict) and tuple(domains_raw) != DOMAINS:
        out.add(("domains",), f"expected exactly the CAF domains {', '.join(DOMAINS)}")
    domains = {str(k): str(v) for k, v in domains_raw.items()} if isinstance(domains_raw, dict) else {}

    child: dict[str, ChildAttribute] = {}
    child_raw = data.get("child")
    for attr, _ in _entries(data, "child", dict):
        if attr not in CHILD_ATTRIBUTES:
            out.add(("child", attr), f"the child attributes are {', '.join(CHILD_ATTRIBUTES)}")
    for attr in CHILD_ATTRIBUTES:
        if not isinstance(child_raw, dict):
            break
        if attr not in child_raw:
            out.add(("child",), f"missing child attribute {attr!r}")
            continue
        parsed = out.check(_ChildIn, child_raw[attr], ("child", attr))
        if parsed is not None:
            total = float(sum(parsed.weights))
            child[attr] = ChildAttribute(attr, tuple(parsed.levels), dict(parsed.labels),
                                         tuple(w / total for w in parsed.weights))
    age_levels = child["age_band"].levels if "age_band" in child else None

    agencies: dict[str, str] = {}
    agency_ages: dict[str, tuple[int, ...]] = {}
    agency_names = [str(k) for k, _ in _entries(data, "agencies", dict)]
    for key, node in _entries(data, "agencies", dict):
        agency = out.check(_AgencyIn, node, ("agencies", key))
        if agency is None:
            continue
        agencies[str(key)] = agency.label
        if age_levels is None:
            continue
        bad = [a for a in agency.ages or () if a not in age_levels]
        if bad:
            out.add(("agencies", key, "ages"), f"unknown age bands {bad}; bands are {', '.join(age_levels)}")
            continue
        agency_ages[str(key)] = (tuple(age_levels.index(a) for a in agency.ages) if agency.ages
                                 else tuple(range(len(age_levels))))

    # factors
    factor_rows = _entries(data, "factors", list)
    factor_names = [str(n["id"]) for _, n in factor_rows if isinstance(n, dict) and isinstance(n.get("id"), str)]
    # A reference is only called unknown when every factor's (and agency's) name could be read.
    all_factors_named = isinstance(data.get("factors"), list) and len(factor_names) == len(factor_rows)
    all_agencies_named = isinstance(data.get("agencies"), dict)
    factors: list[Factor] = []
    factor_rows_ok: list[int] = []
    seen: set[str] = set()
    for i, node in factor_rows:
        f = out.check(_FactorIn, node, ("factors", i))
        if f is None:
            continue
        if f.id in seen or f.id in CHILD_ATTRIBUTES:
            out.add(("factors", i, "id"), "duplicate id")
            continue
        seen.add(f.id)
        unknown = [a for a in f.agencies if a not in agency_names]
        if unknown and all_agencies_named:
            out.add(("factors", i, "agencies"), f"unknown agencies {unknown}" + _hint(unknown[0], agency_names))
        rules = {lv: _phrase_rules(out, ("factors", i, "phrases", lv), f.phrases[lv], f.needs, age_levels)
                 for lv in range(1, len(f.levels))}
        views = {lv: _phrase_rules(out, ("factors", i, "child_view", lv), items, f.needs, age_levels)
                 for lv, items in f.child_view.items()}
        for lv in views:
            if not 1 <= lv < len(f.levels):
                out.add(("factors", i, "child_view"), f"a child's view for level {lv}, which does not exist")
        bad_roles = [r for r in f.needs if r not in ROLES]
        if bad_roles:
            out.add(("factors", i, "needs"), f"unknown roles {bad_roles}; roles are {', '.join(ROLES)}")
        factors.append(Factor(f.id, f.label, f.domain, f.kind, tuple(f.levels), tuple(f.threshold),
                              tuple(f.agencies), f.topic, f.base_rate,
                              {lv: tuple(p.text for p in rules[lv]) for lv in rules}, f.protective,
                              rules, tuple(f.needs), views))
        factor_rows_ok.append(i)
    all_factors_ok = len(factors) == len(factor_rows) and bool(factors)
    _check_unique_phrases(out, factors, factor_rows_ok)
    factor_by_id = {f.id: f for f in factors}
    index = {f.id: i for i, f in enumerate(factors)}

    def child_codes(loc: Loc, key: str, values: Any) -> tuple[int, ...] | None:
        """Codes of the child-attribute levels ``values`` under ``key``; None (and a problem) if wrong."""
        if key not in CHILD_ATTRIBUTES:
            out.add(loc, "only child attributes (age_band, disability) may appear here")
            return None
        if not isinstance(values, list) or not values:
            out.add(loc, "expected a list of levels")
            return None
        if key not in child:
            return None
        levels = child[key].levels
        bad = [v for v in values if v not in levels]
        if bad:
            out.add(loc, f"unknown levels {bad}; levels are {', '.join(levels)}")
            return None
        return tuple(levels.index(v) for v in values)

    def known_factor(loc: Loc, name: str) -> bool:
        if name not in factor_names:
            if all_factors_named:
                out.add(loc, "unknown factor" + _hint(name, factor_names))
            return False
        return True

    # exclusions
    exclusions: list[Exclusion] = []
    for i, node in _entries(data, "exclusions", list):
        e = out.check(_ExclusionIn, node, ("exclusions", i))
        if e is None:
            continue
        when = {k: child_codes(("exclusions", i, "when", k), k, v) for k, v in e.when.items()}
        caps: dict[str, int] = {}
        for fid, cap in e.max.items():
            if not known_factor(("exclusions", i, "max", fid), fid) or fid not in factor_by_id:
                continue
            if not 0 <= cap <= factor_by_id[fid].max_level:
                out.add(("exclusions", i, "max", fid), f"cap must be a level 0-{factor_by_id[fid].max_level}")
            caps[fid] = cap
        exclusions.append(Exclusion(e.id, {k: v for k, v in when.items() if v is not None}, caps, e.why))

    # Which agencies see which factors needs sound factors, agencies, child attributes and exclusions.
    if not out.found and all_factors_ok:
        _check_reporters(out, factors, factor_rows_ok, exclusions, child, agency_ages)
        _check_phrase_ages(out, factors, factor_rows_ok, exclusions, child)
    complexity = _parse_complexity(out, data.get("complexity"), factor_by_id, child_codes, known_factor,
                                   age_levels)

    # derived features
    derived: list[DerivedFeature] = []
    names_so_far = set(factor_names) | set(CHILD_ATTRIBUTES)
    for i, node in _entries(data, "derived", list):
        d = out.check(_DerivedIn, node, ("derived", i))
        if d is None:
            continue
        if d.id in names_so_far:
            out.add(("derived", i, "id"),
                    "duplicate name (factors, child attributes and derived features share one namespace)")
        names_so_far.add(d.id)
        if d.agencies is not None:
            derived.append(DerivedFeature(d.id, d.label, "agencies", max_value=len(agency_names)))
            continue
        spec = d.count if d.count is not None else d.domains
        assert spec is not None
        chosen = [f for f in factors if not f.protective]
        if spec.factors is not None:
            bad = [x for x in spec.factors if x not in factor_names]
            if bad and all_factors_named:
                out.add(("derived", i, d.kind, "factors"), f"unknown factors {bad}" + _hint(bad[0], factor_names))
            chosen = [factor_by_id[x] for x in spec.factors if x in factor_by_id]
        if spec.domain is not None:
            chosen = [f for f in chosen if f.domain == spec.domain]
        if spec.protective is True:
            chosen = [f for f in factors if f.protective]
        if not chosen and all_factors_ok:
            out.add(("derived", i, d.kind), "selects no factors")
        ids = tuple(f.id for f in chosen)
        max_value = len(ids) if d.kind == "count" else len({f.domain for f in chosen})
        derived.append(DerivedFeature(d.id, d.label, d.kind, ids, spec.min_threshold, spec.min_level, max_value))

    error = out.error()
    if error is not None:
        raise error
    assert complexity is not None
    return Catalogue(source, need_levels, domains, agencies, child, tuple(factors),
                     tuple(exclusions), tuple(derived), complexity, agency_ages, index)


def _phrase_rules(out: _Problems, loc: Loc, items: Sequence[str | _PhraseIn], factor_needs: Sequence[str],
                  age_levels: Sequence[str] | None) -> tuple[Phrase, ...]:
    """Phrases of one level with their constraints; unknown ages, roles and placeholders are problems."""
    rules = []
    for k, item in enumerate(items):
        raw = item if isinstance(item, _PhraseIn) else _PhraseIn(text=item)
        where: Loc = (*loc, k)
        bad_roles = [r for r in raw.needs if r not in ROLES]
        if bad_roles:
            out.add((*where, "needs"), f"unknown roles {bad_roles}; roles are {', '.join(ROLES)}")
        ages: list[int] = []
        if age_levels is not None:
            for a in raw.ages:
                if a in age_levels:
                    ages.append(age_levels.index(a))
                else:
                    out.add((*where, "ages"), f"unknown age band {a!r}; age bands are {', '.join(age_levels)}")
        allowed = set(PLACEHOLDERS)
        for role in (*raw.needs, *factor_needs):
            allowed.update(ROLES.get(role, ()))
        for name in _PLACEHOLDER.findall(raw.text):
            if name not in allowed:
                owner = next((r for r, names in ROLES.items() if name in names), None)
                why = (f"it names the role {owner!r}: add {owner} to the phrase's or the factor's needs"
                       if owner else f"placeholders are {', '.join(PLACEHOLDERS)} and those of the roles")
                out.add(where if isinstance(item, str) else (*where, "text"),
                        f"placeholder {{{name}}} cannot be used here: {why}")
        rules.append(Phrase(raw.text, tuple(ages), tuple(raw.needs)))
    return tuple(rules)


def _check_phrase_ages(out: _Problems, factors: Sequence[Factor], rows: Sequence[int],
                       exclusions: Sequence[Exclusion], child: Mapping[str, ChildAttribute]) -> None:
    """Every level a factor can take at an age has a phrase that fits that age and any household."""
    ages = child["age_band"].levels
    for j, f in enumerate(factors):
        for code, band in enumerate(ages):
            top = min([excl.caps[f.id] for excl in exclusions if f.id in excl.caps
                       and code in excl.when.get("age_band", (code,))
                       and 0 in excl.when.get("disability", (0,))], default=f.max_level)
            # the roles every household with this factor has; a phrase needing more may not be usable
            sure = {*f.needs, *(("mother",) if band == "unborn" else ())}
            missing = [lv for lv in range(1, top + 1)
                       if not [p for p in f.usable_phrases(lv, code) if set(p.needs) <= sure]]
            for lv in missing:
                out.add(("factors", rows[j], "phrases", lv),
                        f"no phrase for level {lv} ({f.levels[lv]}) fits a child aged {band!r}; add one "
                        "or widen a phrase's ages")


def _check_unique_phrases(out: _Problems, factors: Sequence[Factor], rows: Sequence[int]) -> None:
    """A phrase identifies one factor at one level, so text can be traced back."""
    owner: dict[str, tuple[str, int]] = {}
    for f, row in zip(factors, rows, strict=True):
        reported = False
        for level, variants in f.phrases.items():
            for p in variants:
                key = p.lower()
                if key in owner and not reported:
                    other, other_level = owner[key]
                    out.add(("factors", row, "phrases"), f"phrase {p!r} is also used by {other!r} level {other_level}")
                    reported = True
                owner.setdefault(key, (f.id, level))


def _check_reporters(out: _Problems, factors: Sequence[Factor], rows: Sequence[int],
                     exclusions: Sequence[Exclusion], child: Mapping[str, ChildAttribute],
                     agency_ages: Mapping[str, tuple[int, ...]]) -> None:
    """Every factor that is plausible at an age must have an agency that sees that age.

    Plausible means not capped at 0 by an exclusion for a child of that age without a disability.
    """
    ages = child["age_band"].levels
    for j, f in enumerate(factors):
        unseen = []
        for code, band in enumerate(ages):
            capped = any(excl.caps.get(f.id) == 0 and code in excl.when.get("age_band", (code,))
                         and 0 in excl.when.get("disability", (0,)) for excl in exclusions)
            if not capped and not any(code in agency_ages.get(a, ()) for a in f.agencies):
                unseen.append(band)
        if unseen:
            out.add(("factors", rows[j], "agencies"),
                    f"no listed agency sees a child aged {', '.join(map(repr, unseen))}; add one or exclude the "
                    "factor for that age")


def _parse_complexity(out: _Problems, node: Any, factor_by_id: Mapping[str, Factor],
                      child_codes: Callable[[Loc, str, Any], tuple[int, ...] | None],
                      known_factor: Callable[[Loc, str], bool],
                      age_levels: tuple[str, ...] | None) -> ComplexitySpec | None:
    """The complexity section, or None (with its problems recorded) when it is broken."""
    if not isinstance(node, dict):
        return None  # reported by the check of the top level
    spec = out.check(_ComplexityIn, node, ("complexity",))
    interactions: list[Interaction] = []
    raw_interactions = node.get("interactions")
    for i, raw in enumerate(raw_interactions if isinstance(raw_interactions, list) else []):
        loc: Loc = ("complexity", "interactions", i)
        item = out.check(_InteractionIn, raw, loc)
        if item is None:
            continue
        fmin: dict[str, int] = {}
        cin: dict[str, tuple[int, ...]] = {}
        for k, v in item.when.items():
            if k in factor_by_id:
                top = factor_by_id[k].max_level
                if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= top:
                    out.add((*loc, "when", k), f"expected a minimum level 1-{top}")
                fmin[k] = v
            elif k in CHILD_ATTRIBUTES:
                codes = child_codes((*loc, "when", k), k, v)
                if codes is not None:
                    cin[k] = codes
            else:
                known_factor((*loc, "when", k), k)
        if not fmin and all(k in CHILD_ATTRIBUTES for k in item.when):
            out.add((*loc, "when"), "an interaction needs at least one factor")
        interactions.append(Interaction(item.id, fmin, cin, item.weight))
    if spec is None:
        return None
    for section, weighted in (("turbulence", spec.turbulence), ("emotional", spec.emotional)):
        for k in weighted.factors:
            known_factor(("complexity", section, "factors", k), k)
    age: dict[int, float] = {}
    for k, v in spec.emotional.age_band.items():
        if age_levels is not None and k not in age_levels:
            out.add(("complexity", "emotional", "age_band", k), f"unknown age band; bands are {', '.join(age_levels)}")
        elif age_levels is not None:
            age[age_levels.index(k)] = v
    return ComplexitySpec(
        weights={k: spec.weights[k] for k in _DIMENSIONS},
        band_medium=spec.bands.medium,
        band_high=spec.bands.high,
        concern_scale=spec.multiplicity.concern_scale,
        domain_weight=spec.multiplicity.domain_weight,
        network_scale=spec.network.scale,
        conflict_scale=spec.conflict.scale,
        interactions=tuple(interactions),
        interconnection_scale=spec.interconnection.scale,
        turbulence_scale=spec.turbulence.scale,
        turbulence_factors=dict(spec.turbulence.factors),
        emotional_scale=spec.emotional.scale,
        emotional_factors=dict(spec.emotional.factors),
        emotional_age=age,
    )
