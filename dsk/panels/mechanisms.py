"""The mechanisms of the simulated practitioner, each with its support or the label *assumption*.

A simulated practitioner appraises a case as a whole (:mod:`dsk.panels.simulate`). The
appraisal starts from the *item reading* (each indicator's usual need level in the threshold
documents, the most serious one first) and adds the mechanisms below. Each has parameters in
every profession profile (:class:`dsk.panels.ProfessionProfile`), and each can be switched off
(``simulate_panel(..., off=("amplification",))``) to see which findings it produces
(:func:`dsk.panels.ablate`).

A mechanism is *supported* when a published study shows the effect it models; the study is
cited with what it measured and what it does not show. Everything a study does not show (the
size of an effect, and nearly every difference between professions) is an assumption, and the
``assumption`` text says so. A mechanism that no study here shows is labelled ``assumption``
outright, and the report prints that label.

Examples
--------
>>> [m.id for m in MECHANISMS]  # doctest: +NORMALIZE_WHITESPACE
['amplification', 'protective', 'corroboration', 'trajectory', 'conflict_trust', 'anchoring', 'lens',
 'thresholds', 'noise']
>>> MECHANISMS_BY_ID["anchoring"].label, MECHANISMS_BY_ID["anchoring"].supported
('Anchoring on the first or most vivid report', True)
>>> MECHANISMS_BY_ID["trajectory"].support
'assumption'
>>> check_off(["lens", "anchor"])
Traceback (most recent call last):
...
ValueError: unknown mechanism 'anchor'; mechanisms are amplification, protective, corroboration, trajectory, conflict_trust, anchoring, lens, thresholds, noise
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dsk.catalogue import Catalogue

__all__ = ["ITEM_READING", "MECHANISMS", "MECHANISMS_BY_ID", "PROCESS_FACTORS", "Mechanism", "Source", "check_off",
           "process_alone"]


@dataclass(frozen=True)
class Source:
    """A study that supports a mechanism, with what it measured and what it does not show."""

    citation: str
    measured: str
    not_shown: str


@dataclass(frozen=True)
class Mechanism:
    """One mechanism of the appraisal: what it does, its profile parameters and its support."""

    id: str
    label: str
    does: str
    parameters: tuple[str, ...]
    sources: tuple[Source, ...]
    assumption: str

    @property
    def supported(self) -> bool:
        """True when at least one cited study shows the effect (its size may still be assumed)."""
        return bool(self.sources)

    @property
    def support(self) -> str:
        """``supported`` or ``assumption``, as the report labels it."""
        return "supported" if self.supported else "assumption"


MUNRO_1999 = Source(
    "Munro 1999, Common errors of reasoning in child protection work (Child Abuse & Neglect 23)",
    "errors of reasoning found in 45 child-abuse inquiry reports: reliance on a narrow range of "
    "evidence, weight on vivid, first or recent information, and slowness to revise a first view",
    "how large the extra weight is, or whether it differs between professions")

#: Concerns about how the family works with professionals rather than about the child's harm:
#: the ``corroboration`` mechanism reads them lower when nothing else is of concern.
PROCESS_FACTORS = ("non_compliance", "refusing_support")


def process_alone(levels: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    """Per vignette (row of a level matrix): are its only concerns process concerns?

    A concern is a factor whose usual need level is above universal (protective factors never
    are); the case of the ``corroboration`` mechanism, and of the failures table's
    ``uncorroborated`` code, is a vignette with a concern in :data:`PROCESS_FACTORS` and none
    outside it.
    """
    concern = catalogue.need_matrix(levels) > 1
    process = np.array([f in PROCESS_FACTORS for f in catalogue.factor_ids])
    return (concern & process).any(axis=1) & ~(concern & ~process).any(axis=1)

#: The starting point of every appraisal; not a mechanism, and not switched off.
ITEM_READING = Mechanism(
    id="item_reading",
    label="Reading each indicator at its usual level",
    does="Each present concern counts its usual need level in the threshold documents (the item "
         "table the threshold checklist also encodes); the most serious sets the floor, and the "
         "others add with diminishing weight (accumulation, log of one plus their sum).",
    parameters=("accumulation",),
    sources=(),
    assumption="That practitioners start from the same usual levels as the threshold documents, and the "
               "size of the accumulation, are assumptions. The report shows what share of simulated "
               "levels this reading alone decides.")

MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism(
        id="amplification",
        label="Needs that amplify each other",
        does="Adds need for the catalogue's interacting pairs that are present (the toxic trio of "
             "parental substance misuse, domestic abuse and mental ill health; a parent's difficulty "
             "with a baby; a young carer with an ill parent), scored by the interconnection dimension.",
        parameters=("amplification",),
        sources=(Source(
            "Brandon et al. 2009, Understanding serious case reviews and their impact: a biennial "
            "analysis of serious case reviews 2005-07 (DCSF)",
            "the family circumstances of children who died or were seriously harmed in England: domestic "
            "abuse, parental mental ill health and substance misuse often occurred together, and babies "
            "under one were the largest age group",
            "how practitioners weigh the combination, or by how much it raises the level they give"),),
        assumption="The size of the added need, and its equality across professions, are assumptions."),
    Mechanism(
        id="protective",
        label="Protective factors that lower concern",
        does="Removes need for each protective factor present (supportive family, a trusted adult, "
             "engagement with services, warm parenting), when there is a concern to lower.",
        parameters=("protective_weight",),
        sources=(),
        assumption="No study here measured how far practitioners lower their level for strengths; threshold "
                   "documents rarely score them. Direction and size are assumptions."),
    Mechanism(
        id="corroboration",
        label="Disengagement read against evidence of harm",
        does="A concern about how the family works with professionals (not engaging, not complying, "
             "refusing child-in-need support) that stands alone, with no concern about the child's "
             "development, care or surroundings, loses the share 'corroboration' of its weight: it is "
             "read as a reason to find out more rather than as harm in itself. With any other concern "
             "present it keeps its usual level.",
        parameters=("corroboration",),
        sources=(),
        assumption="No study here measured how practitioners read non-engagement when nothing else is "
                   "known to be wrong; the threshold documents place not engaging with professionals at "
                   "the statutory level on its own. Direction and size are assumptions."),
    Mechanism(
        id="trajectory",
        label="Trajectory: escalation and turbulence",
        does="Adds need for recent change and unpredictability (moves, a new partner, a separation, "
             "missing episodes), scored by the turbulence dimension: practitioners read the direction "
             "of travel, which a snapshot checklist cannot see.",
        parameters=("trajectory",),
        sources=(),
        assumption="No study here measured practitioners' response to turbulence; direction and size are "
                   "assumptions."),
    Mechanism(
        id="conflict_trust",
        label="Conflicting reports, resolved by trust in the reporting agency",
        does="When one agency reports a concern and another reassures about it, the concern loses part "
             "of its weight in proportion to the reassuring agencies' share of the rater's trust; "
             "optimism raises the weight of reassurance.",
        parameters=("trust", "optimism"),
        sources=(Source(
            "Dingwall, Eekelaar & Murray 1983, The protection of children: state intervention and family "
            "life (ethnography of English agencies)",
            "the 'rule of optimism': practitioners inclined to the most favourable reading of parents' "
            "accounts",
            "a size, or how trust is shared between agencies"),),
        assumption="That each profession trusts its own agency most, the trust values and the share of "
                   "weight a trusted reassurance removes are assumptions."),
    Mechanism(
        id="anchoring",
        label="Anchoring on the first or most vivid report",
        does="The factor reported first and the vivid factors (the catalogue's emotional-charge factors: "
             "injury, disclosure, exploitation, fabricated illness, self-harm, FGM, a person posing a risk) "
             "weigh more, and a vivid concern's weight is not capped at the top level; anchored raters also "
             "revise less in a second round.",
        parameters=("anchoring",),
        sources=(MUNRO_1999,),
        assumption="The size of the extra weight and its equality across professions are assumptions."),
    Mechanism(
        id="lens",
        label="The profession's lens",
        does="Each profession weighs the three domains of the assessment triangle differently and sets its "
             "own bar between levels (threshold shift).",
        parameters=("lens", "threshold_shift"),
        sources=(
            Source("Britner & Mossler 2002, Professionals' decision-making about out-of-home placements "
                   "(Child Abuse & Neglect 26)",
                   "which information judges, guardians ad litem, social workers and mental-health "
                   "professionals relied on for the same vignettes: it differed by professional group",
                   "teachers, health visitors, police or early-years staff, who were not included"),
            Source("Mandel, Lehman & Yuille 1995 (police officers and social workers, one vignette)",
                   "police chose more intrusive responses than social workers",
                   "the size of the shift"),
            Source("Keddell & Hyslop 2018 (statutory and NGO workers in New Zealand)",
                   "statutory workers rated risk lower than NGO workers",
                   "health visitors or early-years staff (an extrapolation)"),
        ),
        assumption="The domain weights of every profession, and the threshold shifts of all but police and "
                   "social workers, are assumptions; so are the sizes."),
    Mechanism(
        id="thresholds",
        label="Individual thresholds",
        does="Each rater's bar between levels sits at their own distance from their profession's, and each "
             "weighs factors a little differently from colleagues (so that raters can agree on a level "
             "for different reasons).",
        parameters=("rater_sd", "lens_sd"),
        sources=(Source(
            "Davidson-Arad & Benbenishty 2010 (child-protection workers' attitudes and their judgements)",
            "workers' attitudes explained 11% of the variance of risk ratings and 18% of intervention "
            "choices",
            "a size for individual offsets on a need scale"),),
        assumption="The spread of individual thresholds and weights is an assumption."),
    Mechanism(
        id="noise",
        label="Judgement noise",
        does="Case-by-case variation of the appraisal with constant spread (less with experience).",
        parameters=("noise",),
        sources=(),
        assumption="The spread is set so that the bundled mixed panel's overall agreement falls in Bolton et "
                   "al.'s published interval; that noise is the same at every level of complexity is an "
                   "assumption (no study here shows noise growing with complexity)."),
)

MECHANISMS_BY_ID = {m.id: m for m in MECHANISMS}


def check_off(off: Iterable[str]) -> frozenset[str]:
    """The set of mechanisms to switch off; an unknown name is refused with the known ones."""
    names = frozenset(off)
    for name in sorted(names):
        if name not in MECHANISMS_BY_ID:
            raise ValueError(f"unknown mechanism {name!r}; mechanisms are "
                             f"{', '.join(m.id for m in MECHANISMS)}")
    return names
