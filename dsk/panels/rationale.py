"""Short rationales in a practitioner's voice, built from their salient factors.

A rationale names what drove the judgement (the rater's salient factors, in
order of weight), notes a strength where one was salient, and ends with what
the chosen level means in practice. Openers come from the profession's
``voice`` list, only those that fit the child's age (no classroom for a
baby, no nursery for a teenager); the rest is varied from a small set of frames. The text is
illustrative, for reading and for tests of text-based analyses; it is not a
model of how practitioners write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from dsk.catalogue import Catalogue
from dsk.panels.profiles import ProfessionProfile, voice_fits, voice_text

if TYPE_CHECKING:
    from dsk.panels.simulate import CaseFeatures, RoundResult

__all__ = ["LEVEL_PHRASES", "write_rationales"]

LEVEL_PHRASES = {
    1: ("universal services can meet this child's needs",
        "I would leave this with universal services",
        "I see no need beyond universal services"),
    2: ("an early-help assessment and one extra service should be enough",
        "this is targeted early help",
        "I would offer early help through a single service"),
    3: ("this needs a team around the child with a lead professional",
        "several agencies need to work together on a plan",
        "no single service can meet this; a team around the child is needed"),
    4: ("children's social care needs to lead now",
        "this meets the threshold for a statutory assessment",
        "I would refer to children's social care today"),
}

_CONCERN = (
    "my main concern is {a}",
    "what worries me most is {a}",
    "{a} stands out",
)
_CONCERN_TWO = (
    "my main concern is {a}, and {b} adds to it",
    "the combination of {a} and {b} worries me",
    "{a} together with {b} is what I keep coming back to",
)
_STRENGTH = ("{p} is a real strength", "I take some comfort from {p}", "{p} counts in the family's favour")


def _short(label: str) -> str:
    text = label.replace(" (protective)", "")
    return text[:1].lower() + text[1:]


def write_rationales(result: RoundResult, features: CaseFeatures, professions: Mapping[str, ProfessionProfile],
                     cat: Catalogue, rng: np.random.Generator,
                     previous: RoundResult | None = None) -> np.ndarray:
    """Rationale text for every judgement of a round, shape (n_vignettes, n_raters).

    ``previous`` is the round-1 result when ``result`` is round 2: a rater then
    says whether colleagues' views moved them.

    Parameters
    ----------
    result : RoundResult
        One round of :func:`dsk.panels.simulate_panel`'s model.
    features : CaseFeatures
        The vignettes' features, as the model computed them.
    professions : mapping of str to ProfessionProfile
        The profiles, by id; each one's ``voice`` gives the openers.
    cat : Catalogue
        The catalogue whose factor labels name the concerns.
    rng : numpy.random.Generator
        Picks the openers and frames.
    previous : RoundResult, optional
        The round-1 result, when ``result`` is round 2.

    Returns
    -------
    numpy.ndarray
        Object array of strings.

    Examples
    --------
    :func:`dsk.panels.simulate_panel` calls this for its ``rationale`` column.
    A police officer on the training set's non-accidental injury, in both rounds:

    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.sets import load_set
    >>> cat = load_catalogue()
    >>> professions = load_professions(catalogue=cat)
    >>> vignettes = load_set("training-12", cat)
    >>> injury = vignettes[vignettes["vignette_id"] == "tame-03-injury"]
    >>> judgements = simulate_panel(injury, load_panel("mixed-12", professions), random_state=1,
    ...                             rounds=2, professions=professions, catalogue=cat)
    >>> for text in judgements.loc[judgements["rater_id"] == "mixed-12:police-1", "rationale"]:
    ...     print(text)
    On the risk of harm, non-accidental injury stands out. I would refer to children's social care today.
    I have considered colleagues' views and stay at level 4. Given what police know, what worries me most is non-accidental injury. I would refer to children's social care today.

    Each text ends with one of the :data:`LEVEL_PHRASES` of its level:

    >>> LEVEL_PHRASES[4][2]
    "I would refer to children's social care today"
    """
    n, n_raters = result.need_level.shape
    labels = [_short(f.label) for f in cat.factors]
    protective = cat.protective_mask
    picks = rng.integers(0, 1 << 30, size=(n, n_raters, 4))
    voices = [list(professions[r.profession].voice) for r in result.raters]
    ages = cat.child["age_band"].levels
    # openers that fit each age band, per rater (a teacher's only for school-age children)
    fitting = [{age: [voice_text(v) for v in vs if voice_fits(v, age)] or [""] for age in ages} for vs in voices]
    out = np.empty((n, n_raters), dtype=object)
    for i in range(n):
        for j in range(n_raters):
            pick = picks[i, j]
            salient = [int(f) for f in result.salient[i, j] if f >= 0]
            concerns = [labels[f] for f in salient if not protective[f]]
            strengths = [labels[f] for f in salient if protective[f]]
            level = int(result.need_level[i, j])
            parts = []
            if len(concerns) >= 2:
                parts.append(_CONCERN_TWO[pick[0] % 3].format(a=concerns[0], b=concerns[1]))
            elif concerns:
                parts.append(_CONCERN[pick[0] % 3].format(a=concerns[0]))
            else:
                parts.append("nothing here goes beyond ordinary family life")
            if strengths:
                parts.append(_STRENGTH[pick[1] % 3].format(p=strengths[0]))
            openers = fitting[j][ages[int(features.age_band[i])]]
            opener = openers[pick[2] % len(openers)]
            first = f"{opener} {parts[0]}" if opener else parts[0]
            sentences = [first[:1].upper() + first[1:] + "."]
            sentences += [p[:1].upper() + p[1:] + "." for p in parts[1:]]
            ending = LEVEL_PHRASES[level][pick[3] % 3]
            if previous is not None:
                before = int(previous.need_level[i, j])
                if before != level:
                    sentences.insert(0, f"Having seen colleagues' views, I have moved from level {before} "
                                        f"to level {level}.")
                else:
                    sentences.insert(0, f"I have considered colleagues' views and stay at level {level}.")
            sentences.append(ending[:1].upper() + ending[1:] + ".")
            out[i, j] = " ".join(sentences)
    return out
