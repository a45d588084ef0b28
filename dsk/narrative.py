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

import hashlib
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from dsk._paths import data_path
from dsk.catalogue import Catalogue, Phrase

__all__ = [
    "FIRST_NAMES",
    "Household",
    "Person",
    "Reports",
    "ReportsError",
    "Segment",
    "household",
    "narrative_segments",
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
#
# Every choice below is keyed: it is drawn from a generator seeded by the
# vignette's seed and by what the sentence is about (``_pick(seed, "account",
# agency)``), never from one stream shared by the whole text. So a variant of
# a vignette with one factor changed (:mod:`dsk.vary`) keeps every other
# sentence word for word: the same people, the same phrasing, the same dates.

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


#: Girls' names among :data:`FIRST_NAMES` (the rest are boys'), for pronouns.
_GIRLS = frozenset({
    "Ava", "Chloe", "Ella", "Grace", "Isla", "Layla", "Nia", "Poppy", "Sana", "Zara", "Bella", "Darcy",
    "Freya", "Imogen", "Leah", "Maya", "Olivia", "Priya", "Sophie", "Amira", "Ruby",
})
_MOTHERS = ("Kelly", "Gemma", "Sarah", "Leanne", "Aisha", "Joanne", "Stacey", "Nadia", "Claire", "Hayley",
            "Shauna", "Fatima", "Kirsty", "Donna", "Agnieszka", "Lisa")
_FATHERS = ("Dean", "Craig", "Mark", "Imran", "Lee", "Jason", "Darren", "Tomasz", "Wayne", "Ryan", "Kwame",
            "Stuart", "Gary", "Sean")
_GRANDMOTHERS = ("Pat", "Maureen", "Linda", "Jean", "Shirley", "Brenda", "Yvonne", "Carol")
_SURNAMES = ("Price", "Walsh", "Khan", "Evans", "Murphy", "Hughes", "Begum", "Clarke", "Nowak", "Bennett",
             "Okafor", "Doyle", "Patel", "Turner", "Shaw", "Reid")
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
            "thirteen")
#: Days between one report's arrival and the next; the first arrives this many days before the referral.
#: The agency that receives referrals: its own reports are told as its records, never as a referral to itself.
OWN_AGENCY = "social_care"
#: A gap of at least 8 days gives the next report a different date in words (weeks are rounded).
_GAP_DAYS = (8, 15)
_FIRST_DAYS = (42, 91)


def _pick(seed: int, *key: object) -> random.Random:
    """A generator for one choice, keyed on the vignette's seed and on what is chosen."""
    digest = hashlib.blake2b(repr((int(seed), *key)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _spread(seed: int, pool: tuple[str, ...] | list[str], slot: int, n_slots: int, what: str) -> str:
    """The frame of ``slot`` (an agency, a factor) among ``n_slots``, under a per-referral shuffle.

    The slots are shuffled with the vignette's seed and dealt round the pool, so
    each frame serves at most ``ceil(n_slots / len(pool))`` slots in one referral,
    and which slots share a frame differs from referral to referral.
    """
    order = list(range(max(n_slots, slot + 1)))
    _pick(seed, "shuffle", what).shuffle(order)
    return pool[order[slot] % len(pool)]


@dataclass(frozen=True)
class Person:
    """Someone in the household: first name, and he/him/his or she/her/her."""

    first: str
    he: str
    him: str
    his: str


@dataclass(frozen=True)
class Household:
    """The people of one referral. ``adult`` is a second adult living in the home."""

    child: Person
    age_text: str
    surname: str
    carer: Person
    carer_role: str  # "mother" or "father"
    adult: Person | None
    adult_role: str | None  # "father" or "partner"
    grandmother: Person | None
    sibling: Person | None
    sibling_text: str | None
    roles: frozenset[str]


_SHE = ("she", "her", "her")
_HE = ("he", "him", "his")


def household(vignette: Mapping[str, Any], catalogue: Catalogue) -> Household:
    """The people of a vignette, drawn from its seed; the present factors' ``needs`` add roles.

    Names are drawn for every possible role whatever the factors, so a variant
    that adds or removes one role keeps everybody else's name.
    """
    cat = catalogue
    seed = int(vignette["seed"])
    age_code = int(vignette["age_band"])
    age = cat.child["age_band"].levels[age_code]
    r = _pick(seed, "household")
    first = r.choice(FIRST_NAMES)
    mother, father = r.choice(_MOTHERS), r.choice(_FATHERS)
    partner = r.choice([n for n in _FATHERS if n != father])
    grandmother, surname = r.choice(_GRANDMOTHERS), r.choice(_SURNAMES)
    shape = r.random()
    sibling_first = r.choice([n for n in FIRST_NAMES if n != first])
    sibling_older = r.random() < 0.5
    years = {"infant": r.randint(1, 11), "preschool": r.randint(1, 4), "primary": r.randint(5, 11),
             "secondary": r.randint(12, 17), "unborn": r.randint(8, 30)}[age] if age in (
                 "infant", "preschool", "primary", "secondary", "unborn") else 0
    roles: set[str] = set()
    for f in cat.factors:
        if int(vignette[f.id]) > 0:
            roles.update(f.needs)
    if age == "unborn":
        roles.add("mother")
    if "girl" in roles and first not in _GIRLS:
        first = _pick(seed, "girl").choice(sorted(_GIRLS))
    if age == "unborn":
        child = Person("the baby", "the baby", "the baby", "the baby's")
        age_text = f"due in {_NUMBERS[years] if years < len(_NUMBERS) else years} weeks"
    else:
        child = Person(first, *(_SHE if first in _GIRLS else _HE))
        age_text = (f"{_NUMBERS[years]} month{'s' if years > 1 else ''} old" if age == "infant" else
                    f"aged {years}" if age != "preschool" else f"aged {years}")
    # the household's shape: two parents, mother alone, father alone; the factors' roles override
    carer_role = "father" if shape >= 0.88 and "mother" not in roles else "mother"
    adult_role: str | None = "father" if shape < 0.45 else None
    if "partner" in roles:
        adult_role = "partner"
        carer_role = "mother" if carer_role == "father" and "mother" in roles else carer_role
    elif "adult" in roles and adult_role is None:
        adult_role = "father" if carer_role == "mother" else "partner"
    if carer_role == "father" and adult_role == "father":
        adult_role = None
    carer = Person(mother, *_SHE) if carer_role == "mother" else Person(father, *_HE)
    adult = None
    if adult_role == "father":
        adult = Person(father, *_HE)
    elif adult_role == "partner":
        adult = Person(partner, *_HE) if carer_role == "mother" else Person(r.choice(_MOTHERS[1:]), *_SHE)
    if adult is not None:
        roles.add("adult")
        if adult_role == "partner":
            roles.add("partner")
    if carer_role == "mother":
        roles.add("mother")
    if adult_role != "father":
        roles.add("separated")
    gran = Person(grandmother, *_SHE) if "grandmother" in roles else None
    sibling = sibling_text = None
    if "sibling" in roles and age != "unborn":
        sibling = Person(sibling_first, *(_SHE if sibling_first in _GIRLS else _HE))
        gap = 2 + int(r.random() * 4)
        other = max(1, years + gap if sibling_older or age == "infant" else years - gap) if age != "infant" else gap
        word = "sister" if sibling_first in _GIRLS else "brother"
        sibling_text = f"{'older' if sibling_older or other > years else 'younger'} {word}, {sibling_first} ({other})"
    return Household(child, age_text, surname, carer, carer_role, adult, adult_role, gran, sibling,
                     sibling_text, frozenset(roles))


def _fields(people: Household) -> dict[str, str]:
    c, p = people.child, people.carer
    out = {"name": c.first, "Name": _sentence(c.first), "he": c.he, "him": c.him, "his": c.his,
           "carer": p.first, "carer_he": p.he, "carer_him": p.him, "carer_his": p.his}
    if people.adult is not None:
        a = people.adult
        out.update(adult=a.first, adult_he=a.he, adult_him=a.him, adult_his=a.his)
        if people.adult_role == "partner":
            out["partner"] = a.first
    if people.grandmother is not None:
        out["grandmother"] = people.grandmother.first
    if people.sibling is not None:
        out["sibling"] = people.sibling.first
    return out


def _fill(text: str, fields: Mapping[str, str]) -> str:
    """Put the household's names and pronouns into a phrase or frame."""
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in fields:
            return fields[key]
        raise KeyError(f"placeholder {{{key}}} in {text!r} has no value in this household")
    return _PLACEHOLDER.sub(one, text)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


def _short_label(label: str) -> str:
    """A factor's label as words inside a sentence: "Missed health checks" -> "missed health checks"."""
    text = label.split(" (")[0]
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def _when(days: int) -> tuple[str, str]:
    """A date relative to the referral, lower-case and capitalised."""
    if days <= 1:
        text = "the day before the referral"
    elif days < 7:
        text = f"{_NUMBERS[days]} days before the referral"
    elif days < 11:
        text = "a week before the referral"
    else:
        weeks = round(days / 7)
        text = f"{_NUMBERS[weeks] if weeks < len(_NUMBERS) else weeks} weeks before the referral"
    return text, _sentence(text)


def _days_before(seed: int, order: int) -> int:
    """Days before the referral of the report that arrived ``order``-th: later reports, nearer days.

    Keyed on the order number alone, so a report keeps its date when others come or go.
    """
    days = _pick(seed, "first").randint(*_FIRST_DAYS)
    for k in range(1, order):
        days -= _pick(seed, "gap", k).randint(*_GAP_DAYS)
    return max(1, days)


@dataclass(frozen=True)
class Segment:
    """One sentence of a narrative, the part of the referral it belongs to, and what it tells.

    ``part`` is one of ``opening``, ``household``, ``header`` (who got in
    touch, and when), ``account``, ``share`` (an agency sharing concerns
    another told first), ``child``, ``parents``, ``strengths``;
    ``factors`` are the factor ids (and ``disability``) the sentence depends
    on; ``paragraph`` numbers the paragraphs from 0; ``agency`` is the agency
    whose account the sentence belongs to, and ``speaker`` the agency that
    says it, where that is another one (a reassurance, a shared concern).
    """

    part: str
    text: str
    factors: tuple[str, ...]
    paragraph: int
    agency: str | None = None
    speaker: str | None = None


def _household_sentences(people: Household, age: str, disabled: bool, needers: tuple[str, ...]
                         ) -> list[tuple[str, tuple[str, ...]]]:
    c, name = people.child, people.child.first
    full = f"{people.carer.first} {people.surname}"
    out: list[tuple[str, tuple[str, ...]]] = []
    if age == "unborn":
        text = f"{full} is pregnant, and the baby is {people.age_text}."
        if people.adult is not None:
            who = "the baby's father" if people.adult_role == "father" else "her partner"
            text += f" {people.adult.first}, {who}, lives with her."
        else:
            text += " She lives on her own."
    else:
        Name = _sentence(name)
        carer = f"{c.his} {people.carer_role}, {full}"
        if people.adult is not None:
            if people.adult_role == "father":
                who = f"{c.his} father, {people.adult.first} {people.surname}"
            else:
                who = f"{people.carer.his} partner, {people.adult.first}"
            text = f"{Name} ({people.age_text.removeprefix('aged ')}) lives with {carer}, and {who}."
        else:
            text = f"{Name} ({people.age_text.removeprefix('aged ')}) lives with {carer}."
        if age == "infant":
            text = f"{Name} is {people.age_text} and lives with {carer}" + (
                f", and {who}." if people.adult is not None else ".")
        if people.sibling_text is not None:
            text += f" {_sentence(c.he)} has an {people.sibling_text}." if people.sibling_text[0] in "aeiou" \
                else f" {_sentence(c.he)} has a {people.sibling_text}."
    out.append((text, needers))
    if people.grandmother is not None:
        side = "mother's" if people.carer_role == "mother" else "father's"
        who, whose = ("The baby's", "the") if age == "unborn" else (_sentence(c.his), c.his)
        out.append((f"{who} grandmother on {whose} {side} side, {people.grandmother.first}, lives nearby.",
                    needers))
    if disabled:
        if age in ("primary", "secondary"):
            out.append((f"{_sentence(name)} is disabled and has an education, health and care plan.",
                        ("disability",)))
        elif age == "unborn":
            out.append(("Scans have shown that the baby is likely to be born with a disability.", ("disability",)))
        else:
            out.append((f"{_sentence(name)} is disabled and is seen by a specialist health team.", ("disability",)))
    return out


def narrative_segments(vignette: Mapping[str, Any], catalogue: Catalogue) -> list[Segment]:
    """The sentences of a vignette's narrative, each with its part and the factors it tells.

    :func:`render_narrative` joins them; tests and :mod:`dsk.vary` use them to
    see which sentences a change of factor touches.
    """
    cat = catalogue
    seed = int(vignette["seed"])
    age_code = int(vignette["age_band"])
    age = cat.child["age_band"].levels[age_code]
    disabled = int(vignette["disability"]) > 0
    people = household(vignette, cat)
    fields = _fields(people)
    frames: Any = _environment(str(template_dir())).get_template("frames.j2").module
    agencies = cat.agencies
    agency_ids = cat.agency_ids
    agency_code = {a: k for k, a in enumerate(agency_ids)}
    n_agencies = len(agency_ids)
    protective_rank = {j: k for k, j in enumerate(np.flatnonzero(cat.protective_mask).tolist())}
    reports = Reports.from_column(cat, [vignette["reports"]])
    rows = list(zip(reports.factor.tolist(), reports.agency.tolist(), reports.stance.tolist(),
                    reports.order.tolist(), strict=True))

    def label(a: int) -> tuple[str, str]:
        text = agencies[agency_ids[a]]
        return text, _sentence(text)

    def phrase(j: int, a: int) -> str:
        f = cat.factors[j]
        level = int(vignette[f.id])
        usable = [p for p in f.usable_phrases(level, age_code) if set(p.needs) <= people.roles]
        if not usable:
            usable = list(f.usable_phrases(level, age_code)) or [Phrase(t) for t in f.phrases[level]]
        chosen = _pick(seed, "phrase", f.id, level).choice(usable)
        return _fill(chosen.text, fields)

    def topic(j: int) -> str:
        return _fill(cat.factors[j].topic, fields)

    protective = cat.protective_mask
    concerns = [(j, a, o) for j, a, s, o in rows if not protective[j] and s == STANCE_CONCERN]
    conflicts = [(j, a, o) for j, a, s, o in rows if not protective[j] and s != STANCE_CONCERN]
    strengths = [(j, a, o) for j, a, s, o in rows if protective[j]]
    reassured_by: dict[int, set[int]] = {}
    for j, a, _ in conflicts:
        reassured_by.setdefault(a, set()).add(j)
    paragraphs: list[list[tuple[str, str, tuple[str, ...]]]] = []
    agency_of_paragraph: dict[int, str] = {}
    speaker_of: dict[tuple[int, str], str] = {}

    # who refers and why now: the most serious concern, then the most recent
    needers = tuple(f.id for f in cat.factors if f.needs)  # their presence shapes the household
    first: list[tuple[str, str, tuple[str, ...]]] = []
    if concerns:
        def weight(item: tuple[int, int, int]) -> tuple[int, int]:
            j, _, o = item
            return cat.factors[j].threshold[int(vignette[cat.factors[j].id])], o
        j, a, _ = max(concerns, key=weight)
        agency, Agency = label(a)
        own = agency_ids[a] == OWN_AGENCY
        frame = _pick(seed, "opening").choice(frames.own_opening_frames if own else frames.opening_frames)
        text = frame.format(agency=agency, Agency=Agency, Name=_sentence(people.child.first), topic=topic(j))
        first.append(("opening", _sentence(text), (cat.factors[j].id,)))
    elif strengths or conflicts:
        a = (strengths or conflicts)[0][1]
        first.append(("opening", f"{label(a)[1]} has been in touch about {people.child.first}; no agency has "
                      "raised a concern.", (cat.factors[(strengths or conflicts)[0][0]].id,)))
    else:
        first.append(("opening", "This is a routine contact: no agency has reported a concern or a strength.", ()))
    first += [("household", t, fs) for t, fs in _household_sentences(people, age, disabled, needers)]
    paragraphs.append(first)

    # the agencies' accounts, in the order they arrived; each concern told once, by its first reporter.
    # An account opens with who got in touch and when (its "header"), tells the agency's own concerns,
    # and ends with one sentence naming the concerns it shares with an agency that told them first.
    told: dict[int, int] = {}  # factor -> agency that tells it
    account_of: dict[int, list[tuple[str, str, tuple[str, ...]]]] = {}
    shares: dict[int, list[int]] = {}  # agency -> concerns it reports after another agency told them
    speakers: dict[tuple[int, str], str] = {}  # (paragraph's agency, share sentence) -> who speaks
    for j, a, _ in concerns:
        if j in told:
            if told[j] != a and j not in shares.setdefault(a, []):
                shares[a].append(j)
            continue
        told[j] = a
        sentences = account_of.setdefault(a, [])
        fid = cat.factors[j].id
        sentences.append(("account", _sentence(phrase(j, a)) + ".", (fid,)))
        # an agency that does not share this concern, beside it; if it has worries of its own,
        # its own header says it holds both views (two_view_frames)
        for k, b, _ in conflicts:
            if k == j:
                frame = _spread(seed, frames.reassure_frames, agency_code[agency_ids[b]], n_agencies, "reassure")
                text = _sentence(frame.format(agency=label(b)[0], Agency=label(b)[1], topic=topic(j)))
                sentences.append(("account", text, (fid,)))
                speakers[(a, text)] = agency_ids[b]
    # an agency that tells concerns of its own says in its account which others it shares; one
    # that only shares says so beside the first concern it shares, without an account of its own
    placed: dict[int, list[tuple[str, str, tuple[str, ...], int]]] = {}
    for a, js in shares.items():
        if not js:
            continue
        topics = [_short_label(cat.factors[j].label) for j in js]
        listed = topics[0] if len(topics) == 1 else ", ".join(topics[:-1]) + " and " + topics[-1]
        frame = _spread(seed, frames.share_frames, agency_code[agency_ids[a]], n_agencies, "share")
        sentence = ("share", _sentence(frame.format(agency=label(a)[0], Agency=label(a)[1], topics=listed)),
                    tuple(cat.factors[j].id for j in js))
        if a in account_of:
            account_of[a].append(sentence)
            speakers[(a, sentence[1])] = agency_ids[a]
        else:
            placed.setdefault(told[js[0]], []).append((*sentence, a))
    for teller, items in placed.items():
        for part, text, tags, a in items:
            account_of[teller].append((part, text, tags))
            speakers[(teller, text)] = agency_ids[a]
    for a in sorted(account_of, key=lambda a: min(o for k, b, o in concerns if b == a and told[k] == a)):
        agency, Agency = label(a)
        start = min(o for k, b, o in concerns if b == a and told[k] == a)
        when, When = _when(_days_before(seed, start))
        mine = tuple(dict.fromkeys(cat.factors[k].id for k, b, _ in concerns if b == a))
        other = sorted(reassured_by.get(a, set()) - set(j for j in told if told[j] == a))
        own = agency_ids[a] == OWN_AGENCY
        if other:
            pool = frames.own_two_view_frames if own else frames.two_view_frames
            frame = _spread(seed, pool, agency_code[agency_ids[a]], n_agencies, "two-view")
            header = frame.format(agency=agency, Agency=Agency, when=when, When=When, topic=topic(other[0]))
            mine = (*mine, cat.factors[other[0]].id)
        else:
            pool = frames.own_account_frames if own else frames.account_frames
            frame = _spread(seed, pool, agency_code[agency_ids[a]], n_agencies, "account")
            header = frame.format(agency=agency, Agency=Agency, when=when, When=When)
        paragraphs.append([("header", _sentence(header), mine), *account_of[a]])
        agency_of_paragraph[len(paragraphs) - 1] = agency_ids[a]
        for _, text, _ in account_of[a]:
            speaker_of[(len(paragraphs) - 1, text)] = speakers.get((a, text), agency_ids[a])

    # the child's views, for a school-age child
    if age in ("primary", "secondary"):
        viewed = [(cat.factors[j].threshold[int(vignette[cat.factors[j].id])], j) for j in told
                  if cat.factors[j].child_view.get(int(vignette[cat.factors[j].id]))]
        frame = _pick(seed, "child").choice(frames.child_frames)
        if viewed:
            _, j = max(viewed)
            f = cat.factors[j]
            level = int(vignette[f.id])
            usable = [p for p in f.child_view[level] if p.fits(age_code) and set(p.needs) <= people.roles]
            view = _fill(_pick(seed, "view", f.id, level).choice(usable).text, fields) if usable else None
            facts: tuple[str, ...] = (f.id,)
        else:
            view = None
        if not viewed or view is None:
            view = _fill(_pick(seed, "view").choice(frames.child_generic), fields)
            facts = tuple(f.id for f in cat.factors if f.child_view)
        paragraphs.append([("child", _sentence(_fill(frame.replace("{view}", view), fields)), facts)])

    elif age in ("infant", "preschool"):
        frame = _pick(seed, "young-child").choice(frames.young_child_frames)
        paragraphs.append([("child", _sentence(_fill(frame, fields)), ())])

    # the parents' views, and whether they agree to the referral
    present = {f.id for f in cat.factors if int(vignette[f.id]) > 0}
    deciders = ("refusing_support", "non_compliance", "engages_with_services")
    which = next((d for d in deciders if d in present), None)
    if not concerns:
        which = "no_concern"
    pool = {"refusing_support": frames.refuses_frames, "non_compliance": frames.non_compliance_frames,
            "engages_with_services": frames.engages_frames,
            "no_concern": frames.no_concern_frames}.get(which or "", frames.consent_frames)
    text = _fill(_pick(seed, "parents", which).choice(pool), fields)
    views = (frames.dispute_views if which in ("refusing_support", "non_compliance") else
             frames.no_concern_views if which == "no_concern" else frames.accept_views)
    view = _fill(_pick(seed, "parents-view", which).choice(views), fields)
    deciding = tuple(d for d in deciders if d in cat.factor_ids)
    if not concerns:  # whether there is a concern at all decides the parents' words too
        deciding = (*deciding, *(f.id for f in cat.factors if not f.protective))
    paragraphs.append([("parents", _sentence(text), deciding), ("parents", _sentence(view), deciding)])

    # what is working well
    if strengths:
        told_strength: set[int] = set()
        lines: list[tuple[str, str, tuple[str, ...]]] = []
        for j, a, _ in strengths:
            if j in told_strength:
                continue
            told_strength.add(j)
            frame = _spread(seed, frames.strength_frames, protective_rank[j], len(protective_rank), "strength")
            agency, Agency = label(a)
            lines.append(("strengths", _sentence(frame.format(agency=agency, Agency=Agency, phrase=phrase(j, a))),
                          (cat.factors[j].id,)))
        heading = _pick(seed, "strengths").choice(frames.strength_headings)
        lines.insert(0, ("strengths", heading, tuple(f.id for f in cat.factors if f.protective)))
        paragraphs.append(lines)
    return [Segment(part, text, facts, k, agency_of_paragraph.get(k), speaker_of.get((k, text)))
            for k, para in enumerate(paragraphs) for part, text, facts in para]


def render_narrative(
    vignette: Mapping[str, Any],
    catalogue: Catalogue,
    template: str = "vignette.txt.j2",
) -> str:
    """The narrative text of one vignette (a row of the vignettes table).

    Deterministic: every choice is keyed on ``vignette["seed"]`` and on what it
    chooses (see :func:`narrative_segments`). Paragraphs follow a multi-agency
    referral: who refers and why, the household, the agencies' accounts in the
    order they arrived, the child's views, the parents' views, what is working well.
    """
    segments = narrative_segments(vignette, catalogue)
    paragraphs: list[list[str]] = []
    for s in segments:
        if s.paragraph == len(paragraphs):
            paragraphs.append([])
        paragraphs[s.paragraph].append(s.text)
    env = _environment(str(template_dir()))
    return env.get_template(template).render(paragraphs=paragraphs).strip()
