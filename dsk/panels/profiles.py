"""Profession profiles and panel files for simulated practitioners.

Every mechanism of the practitioner model (:mod:`dsk.panels.simulate`) is a
named parameter here, with a description saying what it does and where it
comes from. Profiles live in ``experiments/panels/professions.yaml``; panel
files list members by profession and experience, with a seed.

Configuration is read once, at the edge, into frozen pydantic models; an
error names the file and the key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dsk._paths import data_path
from dsk._yaml import YamlError, line_of, load_yaml
from dsk.catalogue import DOMAINS, Catalogue, load_catalogue

__all__ = [
    "PanelError",
    "PanelMember",
    "PanelSpec",
    "ProfessionProfile",
    "load_panel",
    "load_professions",
    "panels_dir",
]


class PanelError(ValueError):
    """A malformed profession or panel file; names the file and the key path.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp, "small.yaml")
    ...     _ = path.write_text("id: small\\n"
    ...                         "members:\\n"
    ...                         "  - profession: police\\n"
    ...                         "    experience: 60\\n")
    ...     try:
    ...         load_panel(path, load_professions())
    ...     except PanelError as exc:
    ...         print(exc)
    /.../small.yaml, line 4, key members.0.experience: Input should be less than or equal to 50
    """


#: Parameters of earlier versions of the model, with what replaced them.
REMOVED = {
    "noise_growth": "noise no longer grows with complexity (no study shows it); remove the key",
    "interaction_sensitivity": "renamed 'amplification'",
    "risk_aversion": "vivid factors now weigh through 'anchoring'; remove the key",
    "refer_on": "removed (no study shows that many agencies raise the level); remove the key",
}


class Voice(BaseModel):
    """An opener that fits only some children: ``ages`` are age-band names."""

    model_config = ConfigDict(extra="forbid")
    text: str
    ages: list[str]

    @field_validator("ages")
    @classmethod
    def _known_ages(cls, value: list[str]) -> list[str]:
        bands = ("unborn", "infant", "preschool", "primary", "secondary")
        bad = [a for a in value if a not in bands]
        if bad or not value:
            raise ValueError(f"unknown age bands {bad}; age bands are {', '.join(bands)}" if bad
                             else "give at least one age band")
        return value


def voice_fits(voice: str | Voice, age: str) -> bool:
    """Whether an opener fits a child of age band ``age``."""
    return isinstance(voice, str) or age in voice.ages


def voice_text(voice: str | Voice) -> str:
    return voice if isinstance(voice, str) else voice.text


class ProfessionProfile(BaseModel):
    """How one profession reads a case. Defaults describe a generic practitioner.

    Examples
    --------
    Police weigh the family environment most and lean to more intrusive
    responses than social workers (a lower ``threshold_shift``):

    >>> professions = load_professions()
    >>> police = professions["police"]
    >>> police.agency, police.lens["family_environment"], police.lens["child_development"]
    ('police', 1.25, 0.9)
    >>> police.threshold_shift < professions["social_worker"].threshold_shift
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    label: str
    agency: str = Field(description="The agency the profession works for; it leads at level 3 when its domain "
                                    "dominates, and it is trusted most by its own members.")
    lens: dict[str, float] = Field(
        default_factory=lambda: {d: 1.0 for d in DOMAINS},
        description="Mechanism lens: weight on each domain of the assessment triangle. Professional groups "
                    "relied on different information for the same vignettes (Britner & Mossler 2002, who did "
                    "not include teachers, health visitors, police or early-years staff); the weights "
                    "themselves are assumptions.")
    trust: dict[str, float] = Field(
        default_factory=dict,
        description="Mechanism conflict_trust: trust in each reporting agency (default 1). When agencies "
                    "conflict, a concern loses part of its weight in proportion to the reassuring agencies' "
                    "share of trust. The values (each profession trusting its own agency most) are "
                    "assumptions.")
    threshold_shift: float = Field(
        0.0, description="Mechanism lens: shift of the cut points between need levels, on the need scale; "
                         "negative means higher levels. Police chose more intrusive responses than social "
                         "workers (Mandel et al. 1995); statutory workers rated risk lower than NGO workers "
                         "(Keddell & Hyslop 2018). Sizes, and the shifts of other professions, are "
                         "assumptions.")
    rater_sd: float = Field(
        0.25, description="Mechanism thresholds: spread of individual raters' cut points around their "
                          "profession's. Workers' attitudes explained 11% of risk-rating variance "
                          "(Davidson-Arad & Benbenishty 2010); the size on this scale is an assumption.")
    lens_sd: float = Field(
        0.2, description="Mechanism thresholds: spread (log scale) of individual raters' factor weights, so "
                         "that raters can agree on a level for different reasons. An assumption.")
    noise: float = Field(
        0.3, description="Mechanism noise: spread of case-by-case judgement noise on the need scale, the "
                         "same at every level of complexity, lower with experience. An assumption; its "
                         "size is set so that the mixed panel's overall alpha falls in Bolton et al.'s "
                         "(2021) published interval.")
    accumulation: float = Field(
        0.45, description="Item reading: weight of further concerns beyond the most serious: need rises "
                          "with log(1 + sum of the other concerns). An assumption.")
    amplification: float = Field(
        0.5, description="Mechanism amplification: need added per unit of the interconnection dimension "
                         "(the catalogue's interacting pairs: the toxic trio, a parent's difficulty with a "
                         "baby). These co-occurred in serious case reviews (Brandon et al. 2009); the size "
                         "is an assumption.")
    trajectory: float = Field(
        0.3, description="Mechanism trajectory: need added per unit of the turbulence dimension (moves, a "
                         "new partner, a separation, missing episodes). An assumption.")
    protective_weight: float = Field(
        0.25, description="Mechanism protective: need removed per protective factor (only when there is a "
                          "concern). Threshold documents rarely score protective factors; the size is an "
                          "assumption.")
    corroboration: float = Field(
        0.0, ge=0, le=1,
        description="Mechanism corroboration: share of its weight that a concern about how the family "
                    "works with professionals (not engaging, not complying, refusing support) loses when "
                    "it is the only concern, with nothing else known to be wrong. An assumption, in "
                    "direction and size.")
    optimism: float = Field(
        0.0, description="Mechanism conflict_trust: the 'rule of optimism' (Dingwall et al. 1983): "
                         "reassuring reports weigh more than their trust alone would give.")
    anchoring: float = Field(
        0.25, description="Mechanism anchoring: extra weight on the factor reported first and on vivid "
                          "factors; also slows revision in round 2. Munro (1999), 45 inquiry reports: weight "
                          "on vivid and first information, slowness to revise; the size is an assumption.")
    influence: float = Field(
        0.8, description="Round 2: chance of moving one level towards the panel median, scaled by "
                         "(1 - 0.6 * confidence) and (1 - anchoring). An assumption (Bolton et al. 2021 "
                         "used a consensus round but do not report how far raters moved).")
    confidence: float = Field(
        0.7, description="Typical confidence (0-1). Confidence is weakly related to accuracy "
                         "(Regehr et al. 2010), so it depends on experience and complexity, not on "
                         "agreement.")
    seconds: float = Field(90.0, description="Median seconds to read and score a simple vignette.")
    voice: list[str | Voice] = Field(
        default_factory=list,
        description="Openers for rationales in this profession's voice: text, or {text, ages} for an "
                    "opener that fits only children of those age bands (a teacher's for school-age "
                    "children, a nursery's for under-fives).")

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            gone = [k for k in REMOVED if k in data]
            if gone:
                raise ValueError("; ".join(f"{k!r} is no longer a parameter: {REMOVED[k]}" for k in gone))
        return data

    @field_validator("lens")
    @classmethod
    def _lens_domains(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(DOMAINS)
        if unknown:
            raise ValueError(f"unknown domains {sorted(unknown)}; domains are {', '.join(DOMAINS)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("domain weights must be >= 0")
        return {d: float(value.get(d, 1.0)) for d in DOMAINS}

    @field_validator("confidence")
    @classmethod
    def _unit(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError("confidence must be in (0, 1)")
        return value

    @field_validator("noise", "rater_sd", "lens_sd", "seconds", "accumulation", "amplification",
                     "trajectory", "protective_weight", "anchoring")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be >= 0")
        return value


class PanelMember(BaseModel):
    """One line of a panel file: ``count`` raters of a profession and experience."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profession: str
    experience: float = Field(5.0, ge=0, le=50, description="Years in practice.")
    count: int = Field(1, ge=1, le=10_000)


class PanelSpec(BaseModel):
    """A panel file: id, title, seed and members.

    Examples
    --------
    Eight social workers, two at each of four levels of experience:

    >>> panel = load_panel("social-workers-8", load_professions())
    >>> panel.title, panel.seed
    ("Children's social workers (single profession)", 8)
    >>> [(m.profession, m.experience, m.count) for m in panel.members]  # doctest: +NORMALIZE_WHITESPACE
    [('social_worker', 1.0, 2), ('social_worker', 5.0, 2), ('social_worker', 10.0, 2),
     ('social_worker', 20.0, 2)]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = ""
    seed: int = 0
    members: list[PanelMember]

    @model_validator(mode="after")
    def _some_members(self) -> PanelSpec:
        if not self.members:
            raise ValueError("a panel needs at least one member")
        return self

    def raters(self) -> list[tuple[str, str, float]]:
        """(rater_id, profession, experience) for every rater, in file order.

        Rater ids number each profession's members from 1, after the panel id.

        Examples
        --------
        >>> panel = PanelSpec(id="small", members=[PanelMember(profession="police", count=2),
        ...                                        PanelMember(profession="gp", experience=12)])
        >>> panel.raters()
        [('small:police-1', 'police', 5.0), ('small:police-2', 'police', 5.0), ('small:gp-1', 'gp', 12.0)]
        """
        out: list[tuple[str, str, float]] = []
        counter: dict[str, int] = {}
        for m in self.members:
            for _ in range(m.count):
                counter[m.profession] = counter.get(m.profession, 0) + 1
                out.append((f"{self.id}:{m.profession}-{counter[m.profession]}", m.profession, m.experience))
        return out


def panels_dir() -> Path:
    """``experiments/panels`` bundled in the package."""
    return data_path("experiments", "panels")


def _where(path: Path, data: Any, loc: tuple[Any, ...]) -> str:
    """'file, line N, key a.b.c' for a pydantic error location."""
    line = line_of(data, loc)
    keys = ".".join(str(p) for p in loc)
    return f"{path}" + (f", line {line}" if line else "") + (f", key {keys}" if keys else "")


def load_professions(path: str | Path | None = None,
                     catalogue: Catalogue | None = None) -> dict[str, ProfessionProfile]:
    """Read ``professions.yaml`` (default: the bundled one) into profiles by id.

    The agencies they name are checked against ``catalogue`` (default: the
    bundled catalogue; this loader of bundled data is an entry point).

    Examples
    --------
    >>> profs = load_professions()
    >>> profs["police"].agency
    'police'
    """
    p = Path(path) if path is not None else panels_dir() / "professions.yaml"
    cat = catalogue if catalogue is not None else load_catalogue()
    try:
        data = load_yaml(p)
    except YamlError as exc:
        raise PanelError(str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("professions"), list):
        raise PanelError(f"{p}: expected a mapping with a list under 'professions'")
    defaults = data.get("defaults", {}) or {}
    profiles: dict[str, ProfessionProfile] = {}
    for i, item in enumerate(data["professions"]):
        if not isinstance(item, dict):
            raise PanelError(f"{p}, key professions.{i}: expected a mapping")
        merged = {**defaults, **item}
        try:
            profile = ProfessionProfile.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ("professions", i, *first["loc"])
            raise PanelError(f"{_where(p, data, loc)}: {first['msg']}") from exc
        unknown = [a for a in (profile.agency, *profile.trust) if a not in cat.agencies]
        if unknown:
            raise PanelError(f"{_where(p, data, ('professions', i, 'trust'))}: unknown agencies {unknown}")
        if profile.id in profiles:
            raise PanelError(f"{_where(p, data, ('professions', i, 'id'))}: duplicate profession {profile.id!r}")
        profiles[profile.id] = profile
    return profiles


def load_panel(path: str | Path, professions: Mapping[str, ProfessionProfile]) -> PanelSpec:
    """Read a panel file; a bundled panel can be named by id (``mixed-12``).

    Every member's profession must be one of ``professions``.

    Examples
    --------
    >>> spec = load_panel("mixed-12", load_professions())
    >>> spec.id, len(spec.raters())
    ('mixed-12', 12)
    """
    p = Path(path)
    if not p.suffix:
        p = panels_dir() / f"{path}.yaml"
    if not p.exists():
        bundled = sorted(x.stem for x in panels_dir().glob("*.yaml") if x.stem != "professions")
        raise PanelError(f"{p}: no such panel file (bundled panels: {', '.join(bundled)})")
    profs = professions
    try:
        data = load_yaml(p)
    except YamlError as exc:
        raise PanelError(str(exc)) from exc
    try:
        spec = PanelSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PanelError(f"{_where(p, data, tuple(first['loc']))}: {first['msg']}") from exc
    for i, member in enumerate(spec.members):
        if member.profession not in profs:
            import difflib

            hint = difflib.get_close_matches(member.profession, list(profs), n=2)
            raise PanelError(f"{_where(p, data, ('members', i, 'profession'))}: unknown profession "
                             f"{member.profession!r}" + (f"; did you mean {', '.join(hint)}?" if hint else "")
                             + f" (professions: {', '.join(profs)})")
    return spec
