"""The ``plan:`` section of an experiment config, or a plan file (private; see :mod:`dsk.plan`).

Kept apart from :mod:`dsk.plan` so that :mod:`dsk.experiment` can accept an optional ``plan:``
key without importing Dask or the simulator.
"""

from __future__ import annotations

import difflib
import itertools
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["QUANTITIES", "PlanSpec"]

#: What a plan can plan for.
QUANTITIES = ("alpha", "ac2", "divergence", "clmm")

Band = Literal["low", "medium", "high"]
Quantity = Literal["alpha", "ac2", "divergence", "clmm"]


def _unknown(kind: str, name: str, known: list[str]) -> PydanticCustomError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    message = f"unknown {kind} {name!r}{hint} ({kind}s: {', '.join(known)})"
    return PydanticCustomError("unknown_analysis", message.replace("{", "{{").replace("}", "}}"))


class PlanSpec(BaseModel):
    """Study planning (`dsk plan`): a grid of designs, each simulated `replications` times.

    Every combination of `vignettes`, `deck_size`, `per_deck` and `professions` is a cell of the
    grid. Each replication of a cell generates a fresh vignette set with `design`, deals it into
    decks (a deck plan has `vignettes / gcd(vignettes, deck_size)` decks, each taken by
    `per_deck` practitioners), simulates the panel and analyses it, with its own seed spawned
    from `seed`. The spread of an estimate over the replications is its sampling distribution:
    the plan reports the half-width of its central 95% and the power of the chosen tests.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, description=(
        "Seed of the plan: every replication gets its own stream spawned from it "
        "(`numpy.random.SeedSequence(seed).spawn`), so results do not depend on the workers."))
    replications: int = Field(200, ge=2, le=1_000_000, description="Replications of every cell of the grid.")
    batch: int = Field(25, ge=1, le=10_000, description=(
        "Replications shipped to a worker in one task (fewer tasks, less overhead); the plan's "
        "last 4 batches go in tasks of a quarter batch so the workers finish together. "
        "It does not change the results."))
    design: Literal["random", "stratified", "d-efficient"] = Field("stratified", description=(
        "How each replication's vignettes are generated (`stratified` gives every band its share)."))
    dimensions: list[str] | None = Field(None, description="D-efficient design: the dimensions it varies.")
    vignettes: Annotated[list[Annotated[int, Field(ge=2, le=100_000)]], Field(min_length=1)] = Field(
        [48], description="Grid: numbers of vignettes in the study.")
    deck_size: Annotated[list[Annotated[int, Field(ge=1, le=10_000)]], Field(min_length=1)] = Field(
        [12], description="Grid: vignettes in each practitioner's deck (at most the number of vignettes).")
    per_deck: Annotated[list[Annotated[int, Field(ge=2, le=10_000)]], Field(min_length=1)] = Field(
        [6], description="Grid: practitioners who take each deck.")
    professions: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {"mixed": {"social_worker": 1.0, "teacher": 1.0, "health_visitor": 1.0,
                                           "police": 1.0, "paediatrician": 1.0, "gp": 1.0,
                                           "early_years": 1.0}},
        description=(
            "Grid: professions mixes by name, each a mapping of profession to its share of the "
            "practitioners (shares are normalised; seats are given by largest remainder and "
            "interleaved, so every deck gets a mix)."))
    experience: float = Field(8.0, ge=0, le=50, description="Years in practice of every simulated practitioner.")
    ruleset: str = Field("threshold-of-need", description=(
        "The bundled checklist whose divergence from the panel is planned for."))
    quantities: Annotated[list[Quantity], Field(min_length=1)] = Field(
        default_factory=lambda: list[Quantity](["alpha", "ac2", "divergence"]), description=(
            "What to plan for: `alpha` and `ac2` (95% half-width of Krippendorff's alpha and "
            "Gwet's AC2, overall and per band), `divergence` (power to detect a difference in "
            "checklist-panel divergence between `divergence_bands`), `clmm` (power for "
            "`clmm_effects`)."))
    alpha_level: Literal["nominal", "ordinal", "interval"] = Field(
        "ordinal", description="Level of measurement of Krippendorff's alpha.")
    ac2_weights: Literal["linear", "quadratic"] = Field("quadratic", description="Weights of Gwet's AC2.")
    divergence_bands: tuple[Band, Band] = Field(("low", "high"), description=(
        "The two complexity bands whose checklist-panel divergence is compared (Welch's t test "
        "on the vignettes' shares of practitioners who differ from the checklist)."))
    significance: float = Field(0.05, gt=0, lt=1, description="Two-sided level of the tests and CIs.")
    clmm_formula: str = Field(
        "need_level ~ domestic_abuse + parental_mental_health + (1|rater_id) + (1|vignette_id)",
        description=("CLMM fitted to each replicate with `dsk.analysis.models.clmm`; vignette "
                     "columns and `profession` may enter it."))
    clmm_effects: list[str] = Field(default_factory=lambda: ["domestic_abuse", "parental_mental_health"],
                                    description="CLMM terms whose power is the share of replicates "
                                                "with a 95% CI that excludes 0.")
    alpha_min: list[Annotated[float, Field(gt=-1, lt=1)]] = Field([0.667, 0.8], description=(
        "Analytic cross-check: smallest acceptable alphas for Bloch and Kraemer's sample size."))

    @field_validator("professions")
    @classmethod
    def _known_professions(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        from dsk.panels import load_professions

        known = list(load_professions())
        if not value:
            raise ValueError("give at least one professions mix")
        for name, mix in value.items():
            if not mix:
                raise ValueError(f"professions mix {name!r} is empty")
            for prof, share in mix.items():
                if prof not in known:
                    raise _unknown("profession", prof, known)
                if not share > 0 or not math.isfinite(share):
                    raise ValueError(f"professions mix {name!r}: share of {prof!r} must be above 0, got {share}")
        return value

    @field_validator("ruleset")
    @classmethod
    def _known_ruleset(cls, value: str) -> str:
        from dsk.rules import bundled_rulesets

        known = list(bundled_rulesets())
        if value not in known:
            raise _unknown("ruleset", value, known)
        return value

    @field_validator("deck_size")
    @classmethod
    def _decks_fit(cls, value: list[int], info: ValidationInfo) -> list[int]:
        bad = sorted({(n, k) for n, k in itertools.product(info.data.get("vignettes") or [], value) if k > n})
        if bad:
            pairs = ", ".join(f"decks of {k} from {n} vignettes" for n, k in bad)
            raise ValueError(f"a deck cannot be larger than the study: {pairs}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PlanSpec:
        if self.design == "d-efficient" and not self.dimensions:
            raise ValueError("the d-efficient design needs dimensions")
        if self.divergence_bands[0] == self.divergence_bands[1]:
            raise ValueError("divergence_bands: give two different bands")
        if "clmm" in self.quantities and not self.clmm_effects:
            raise ValueError("clmm is planned for but clmm_effects is empty")
        return self
