"""Simulated practitioners: a holistic appraisal of harm, made of named mechanisms.

A simulated practitioner reads a vignette and appraises it as a whole on a continuous *need
scale* on which 1, 2, 3 and 4 are the four levels of the continuum; their judgement is the level
whose band contains their appraisal ``z``. Every term below is one mechanism of
:data:`dsk.panels.mechanisms.MECHANISMS`, with its support (a cited study and what it measured)
or the label *assumption*, and every mechanism can be switched off (``off=``) to see what it
produces. For rater ``r`` (of profession ``p``) and vignette ``v``::

    e_f = min(c_f * d_pf * g_pf * a_rf * m_rf, 3)  # how much concern f weighs (vivid: no cap)
    z   = 1 + max_f e_f                     # item reading: the most serious concern sets the floor
          + accumulation_p * log(1 + sum_f e_f - max_f e_f)      # ... the rest add, diminishing
          + amplification_p * interconnection_v                 # needs that amplify each other
          + trajectory_p * turbulence_v                         # escalation and turbulence
          - protective_weight_p * P_v                           # protective factors (given a concern)
          + noise_p * (1 - 0.015 * min(years, 20)) * N(0, 1)     # judgement noise
    level = 1 + #{k : z > k + 0.5 + threshold_shift_p + o_r}    # lens; individual thresholds

where ``c_f`` is the concern's usual need level minus one (the item table of the threshold
documents; 0 if absent or protective); ``d_pf = 1 - CONFLICT_WEIGHT * s`` discounts a concern
that another agency contradicts, ``s`` being the reassuring agencies' share of the profession's
trust, their trust raised by ``optimism`` (conflict_trust); ``g_pf = 1 - corroboration_p``
for a concern about how the family works with professionals (``PROCESS_FACTORS``) when no
other kind of concern is present, else 1 (corroboration); ``a_rf`` is ``1 + anchoring_r`` for
the factor reported first and for the vivid factors (the catalogue's emotional-charge factors:
injury, disclosure, exploitation and the like) (anchoring); ``m_rf`` is the profession's weight on
the factor's domain of the assessment triangle (lens) times a log-normal individual deviation of
spread ``lens_sd`` (thresholds); ``interconnection_v`` and ``turbulence_v`` are the vignette's
complexity dimensions of those names (:mod:`dsk.complexity`: the catalogue's interacting pairs,
such as the toxic trio and a parent's difficulty with a baby; recent moves, new partners,
separations and missing episodes); ``P_v`` counts protective factors and applies only when
some concern is present; ``o_r ~ N(0, rater_sd)`` is the rater's own threshold (thresholds).

The noise has the same spread at every level of complexity: no study the kit cites shows noise
growing with complexity, so the model does not assume it. Whatever differences between bands the
simulated panel shows come from the mechanisms above, and ``dsk panel ablate`` shows which.

Round 2 (deliberation): each rater sees the anonymised round-1 levels of the
panel for the vignette and the factors colleagues cited most. With
probability ``influence_p * (1 - 0.6 * confidence_rv) * (1 - anchoring_r)`` they
move one level towards the panel median (if they differ from it), and with
the same probability they add the factor most cited by colleagues to their
own salient factors. Confidence rises by a tenth of its distance to 1 for
raters who end at the median.

Confidence does not depend on agreement: it is the profession's typical
confidence, raised by experience and lowered by complexity, with noise, so
that it relates only weakly to agreement with the panel (Regehr et al.
2010).

With a deck plan (``decks=``, from :func:`dsk.decks.make_decks` or ``dsk vignettes
decks``) each rater is one of the plan's respondents and keeps only the judgements of
their own deck, in its order, with ``deck_id`` and ``position``; in round 2 the panel
median and the colleagues' factors come from those who rated the same vignette. The
draws are those of the full panel, so decks change which judgements are kept, not
their values in round 1.

All randomness comes from ``numpy.random.default_rng([panel seed, random_state])``; the
draws do not depend on which mechanisms are switched off, so an ablated run differs from the
full one only by what the mechanism does. The same panel, vignettes and ``random_state`` give the
same table. The model and its sources are set out in ``docs/methods.md``, "Simulated
practitioners".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsk.catalogue import DOMAINS, Catalogue
from dsk.narrative import STANCE_REASSURE, Reports
from dsk.panels.mechanisms import PROCESS_FACTORS, process_alone
from dsk.panels.profiles import PanelSpec, ProfessionProfile
from dsk.schema import validate

__all__ = [
    "CONFLICT_WEIGHT",
    "CaseFeatures",
    "RoundResult",
    "case_features",
    "deliberate",
    "judgements_table",
    "simulate_panel",
    "simulate_round",
]

#: Share of a concern's weight that a fully trusted contradicting report removes.
CONFLICT_WEIGHT = 0.6
#: Cut points between need levels on the need scale, before profession and rater shifts.
CUTS = np.array([1.5, 2.5, 3.5])
#: Most salient factors a rater cites.
MAX_SALIENT = 4


def neutral_profiles(professions: Mapping[str, ProfessionProfile],
                     off: Collection[str]) -> dict[str, ProfessionProfile]:
    """The profiles with the parameters of the mechanisms in ``off`` set to their neutral values."""
    from dsk.panels.mechanisms import check_off

    names = check_off(off)
    update: dict[str, object] = {}
    if "amplification" in names:
        update["amplification"] = 0.0
    if "trajectory" in names:
        update["trajectory"] = 0.0
    if "protective" in names:
        update["protective_weight"] = 0.0
    if "corroboration" in names:
        update["corroboration"] = 0.0
    if "conflict_trust" in names:
        update["trust"] = {}
        update["optimism"] = 0.0
    if "anchoring" in names:
        update["anchoring"] = 0.0
    if "lens" in names:
        update["lens"] = {d: 1.0 for d in DOMAINS}
        update["threshold_shift"] = 0.0
    if "thresholds" in names:
        update["rater_sd"] = 0.0
        update["lens_sd"] = 0.0
    if "noise" in names:
        update["noise"] = 0.0
    return {k: p.model_copy(update=update) for k, p in professions.items()}


@dataclass(frozen=True)
class CaseFeatures:
    """What a practitioner can see in each vignette, as arrays.

    Present factors are packed per vignette into ``k`` slots (``slot_factor``
    holds the catalogue index, or ``n_factors`` for an empty slot).
    """

    vignette_id: np.ndarray
    slot_factor: np.ndarray  # (n, k)
    slot_need: np.ndarray  # (n, k) usual need level - 1 (0 for protective / empty)
    slot_protective: np.ndarray  # (n, k) bool
    slot_first: np.ndarray  # (n, k) bool: the factor reported first
    slot_vivid: np.ndarray  # (n, k) bool: a vivid factor (the catalogue's emotional-charge factors)
    slot_process_alone: np.ndarray  # (n, k) bool: a process concern with no other kind of concern
    slot_concern_trust: Mapping[str, np.ndarray]  # profession -> (n, k) trust of concern reporters
    slot_reassure_trust: Mapping[str, np.ndarray]  # profession -> (n, k) trust of reassuring reporters
    interconnection: np.ndarray  # (n,)
    turbulence: np.ndarray  # (n,)
    n_protective: np.ndarray  # (n,)
    complexity: np.ndarray  # (n,)
    n_reports: np.ndarray  # (n,)
    reporting_agencies: np.ndarray  # (n, n_agencies) counts of concern reports per agency
    age_band: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.vignette_id)

    def rows(self, part: slice) -> CaseFeatures:
        """The features of a contiguous range of vignettes."""
        return CaseFeatures(**{  # type: ignore[arg-type]
            name: ({k: v[part] for k, v in value.items()} if isinstance(value, dict) else value[part])
            for name, value in self.__dict__.items()
        })


def case_features(vignettes: pd.DataFrame, professions: Mapping[str, ProfessionProfile],
                  catalogue: Catalogue) -> CaseFeatures:
    """Extract the arrays the model reads from a vignettes table.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.panels import load_professions
    >>> from dsk.sets import load_set
    >>> cat = load_catalogue()
    >>> features = case_features(load_set("training-12", cat), load_professions(catalogue=cat), cat)
    >>> len(features), int(features.n_reports.sum()) > 12
    (12, True)
    """
    cat = catalogue
    n = len(vignettes)
    levels = vignettes[list(cat.factor_ids)].to_numpy(dtype=np.int64)
    need = cat.need_matrix(levels) - 1
    present = levels > 0
    k = max(int(present.sum(axis=1).max()) if n else 1, 1)
    n_factors = len(cat.factors)
    # pack present factors to the left, in catalogue order
    order = np.argsort(~present, axis=1, kind="stable")[:, :k]
    filled = np.take_along_axis(present, order, axis=1)
    slot_factor = np.where(filled, order, n_factors)
    padded_need = np.concatenate([need, np.zeros((n, 1), dtype=need.dtype)], axis=1)
    slot_need = np.take_along_axis(padded_need, slot_factor, axis=1).astype(np.float32)
    prot = np.append(cat.protective_mask, False)
    slot_protective = prot[slot_factor]
    slot_need[slot_protective] = 0
    position = np.full((n, n_factors + 1), -1, dtype=np.int64)
    rows = np.repeat(np.arange(n), k)
    position[rows, slot_factor.ravel()] = np.tile(np.arange(k), n)
    reports = Reports.from_column(cat, vignettes["reports"])
    rep_v, rep_f, rep_a, rep_o = reports.vignette, reports.factor, reports.agency, reports.order
    rep_s = reports.stance == STANCE_REASSURE
    rep_slot = position[rep_v, rep_f]
    slot_first = np.zeros((n, k), dtype=bool)
    first = rep_o == 1
    slot_first[rep_v[first], rep_slot[first]] = True
    concern_trust: dict[str, np.ndarray] = {}
    reassure_trust: dict[str, np.ndarray] = {}
    for pid, prof in professions.items():
        trust = np.array([prof.trust.get(a, 1.0) for a in cat.agency_ids])
        tc = np.zeros((n, k))
        tr = np.zeros((n, k))
        np.add.at(tc, (rep_v[~rep_s], rep_slot[~rep_s]), trust[rep_a[~rep_s]])
        np.add.at(tr, (rep_v[rep_s], rep_slot[rep_s]), trust[rep_a[rep_s]])
        concern_trust[pid] = tc
        reassure_trust[pid] = tr
    vivid = np.append(np.array([f.id in cat.complexity.emotional_factors for f in cat.factors]), False)
    process = np.append(np.array([f.id in PROCESS_FACTORS for f in cat.factors]), False)[slot_factor]
    process_concern = process & (slot_need > 0)
    reporting = np.zeros((n, len(cat.agency_ids)), dtype=np.int64)
    np.add.at(reporting, (rep_v[~rep_s], rep_a[~rep_s]), 1)
    age = vignettes["age_band"].to_numpy(dtype=np.int64)
    return CaseFeatures(
        vignette_id=vignettes["vignette_id"].to_numpy(dtype=object),
        slot_factor=slot_factor,
        slot_need=slot_need,
        slot_protective=slot_protective,
        slot_first=slot_first,
        slot_vivid=vivid[slot_factor] & ~slot_protective,
        slot_process_alone=process_concern & process_alone(levels, cat)[:, None],
        slot_concern_trust=concern_trust,
        slot_reassure_trust=reassure_trust,
        interconnection=vignettes["cx_interconnection"].to_numpy(dtype=float),
        turbulence=vignettes["cx_turbulence"].to_numpy(dtype=float),
        n_protective=(levels[:, cat.protective_mask] > 0).sum(axis=1),
        complexity=vignettes["complexity"].to_numpy(dtype=float),
        n_reports=np.bincount(rep_v, minlength=n),
        reporting_agencies=reporting,
        age_band=age,
    )


@dataclass(frozen=True)
class Rater:
    """One simulated practitioner with their individual draws."""

    rater_id: str
    profession: str
    experience: float
    offset: float
    domain_weight: np.ndarray  # (n_factors + 1,) weight per catalogue factor (0 for the empty slot)
    anchoring: float
    confidence_shift: float


@dataclass(frozen=True)
class RoundResult:
    """Judgements of one round as arrays of shape (n_vignettes, n_raters)."""

    raters: tuple[Rater, ...]
    need_level: np.ndarray
    confidence: np.ndarray
    risk: np.ndarray
    salient: np.ndarray  # (n, R, MAX_SALIENT) catalogue indices, -1 for none
    lead_agency: np.ndarray  # (n, R) agency index
    seconds: np.ndarray
    latent: np.ndarray
    round: int = 1


def draw_raters(panel: PanelSpec, professions: Mapping[str, ProfessionProfile], cat: Catalogue,
                rng: np.random.Generator) -> tuple[Rater, ...]:
    """Individual parameters of every panel member."""
    domain_of = np.array([DOMAINS.index(f.domain) for f in cat.factors])
    raters = []
    for rater_id, pid, years in panel.raters():
        prof = professions[pid]
        lens = np.array([prof.lens[d] for d in DOMAINS])[domain_of]
        deviation = np.exp(rng.normal(0.0, prof.lens_sd, len(cat.factors)))
        weights = np.append(lens * deviation, 0.0)
        raters.append(Rater(
            rater_id=rater_id, profession=pid, experience=years,
            offset=float(rng.normal(0.0, prof.rater_sd)),
            domain_weight=weights.astype(np.float32),
            anchoring=float(prof.anchoring * rng.uniform(0.5, 1.5)),
            confidence_shift=float(rng.normal(0.0, 0.3)),
        ))
    return tuple(raters)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


#: Vignettes simulated together; small enough that working arrays are reused between chunks.
#: Part of the random stream's definition: changing it changes the draws.
CHUNK = 2048


def simulate_round(features: CaseFeatures, raters: Sequence[Rater],
                   professions: Mapping[str, ProfessionProfile], cat: Catalogue,
                   rng: np.random.Generator) -> RoundResult:
    """Round-1 judgements of every rater on every vignette (vectorised per profession)."""
    parts = [_simulate_chunk(features.rows(slice(start, start + CHUNK)), raters, professions, cat, rng)
             for start in range(0, max(len(features), 1), CHUNK)]
    if len(parts) == 1:
        return parts[0]
    fields = ("need_level", "confidence", "risk", "salient", "lead_agency", "seconds", "latent")
    merged = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
    return RoundResult(tuple(raters), round=1, **merged)


def _simulate_chunk(features: CaseFeatures, raters: Sequence[Rater],
                    professions: Mapping[str, ProfessionProfile], cat: Catalogue,
                    rng: np.random.Generator) -> RoundResult:
    n, n_raters = len(features), len(raters)
    need = np.zeros((n, n_raters), dtype=np.int64)
    latent = np.zeros((n, n_raters))
    confidence = np.zeros((n, n_raters))
    salient = np.full((n, n_raters, MAX_SALIENT), -1, dtype=np.int16)
    k = features.slot_factor.shape[1]
    # per-judgement random draws, in a fixed order
    noise_draw = rng.standard_normal((n, n_raters))
    conf_draw = rng.standard_normal((n, n_raters))
    n_salient = 2 + rng.binomial(2, 0.4, size=(n, n_raters))
    seconds_draw = rng.standard_normal((n, n_raters))
    risk_draw = rng.standard_normal((n, n_raters))
    by_profession: dict[str, list[int]] = {}
    for j, r in enumerate(raters):
        by_profession.setdefault(r.profession, []).append(j)
    has_concern = (features.slot_need > 0).any(axis=1)
    empty = features.slot_factor == len(cat.factors)
    agency_index = {a: i for i, a in enumerate(cat.agency_ids)}
    for pid, cols in by_profession.items():
        prof = professions[pid]
        tc = features.slot_concern_trust[pid]
        tr = features.slot_reassure_trust[pid] * (1.0 + prof.optimism)
        share = np.divide(tr, tc + tr, out=np.zeros_like(tr), where=(tc + tr) > 0)
        base = (features.slot_need * (1.0 - CONFLICT_WEIGHT * share)
                * (1.0 - prof.corroboration * features.slot_process_alone)).astype(np.float32)  # (n, k)
        weights = np.stack([raters[j].domain_weight for j in cols], axis=1)  # (F+1, R_p)
        anchor = np.array([raters[j].anchoring for j in cols], dtype=np.float32)
        w = weights[features.slot_factor]  # (n, k, R_p)
        anchored = (features.slot_first | features.slot_vivid)[:, :, None]
        # a concern weighs at most as much as the most serious usual level (the scale ends at 4),
        # except a vivid one, whose extra weight can carry the appraisal beyond it (Munro 1999)
        e = base[:, :, None] * w * (1.0 + anchored * anchor[None, None, :])
        e = np.where(features.slot_vivid[:, :, None], e, np.minimum(e, np.float32(3.0)))
        top = e.max(axis=1)
        rest = np.maximum(e.sum(axis=1) - top, 0.0)
        years = np.array([raters[j].experience for j in cols])
        sd = (prof.noise * (1 - 0.015 * np.minimum(years, 20)))[None, :]
        z = (1.0 + top + prof.accumulation * np.log1p(rest)
             + prof.amplification * features.interconnection[:, None]
             + prof.trajectory * features.turbulence[:, None]
             - prof.protective_weight * (features.n_protective * has_concern)[:, None]
             + sd * noise_draw[:, cols])
        offsets = np.array([raters[j].offset for j in cols]) + prof.threshold_shift
        cuts = CUTS[None, None, :] + offsets[None, :, None]
        need[:, cols] = 1 + (z[:, :, None] > cuts).sum(axis=2)
        latent[:, cols] = z
        logit = (np.log(prof.confidence / (1 - prof.confidence))
                 + 0.04 * (np.minimum(years, 25) - 5)[None, :]
                 + np.array([raters[j].confidence_shift for j in cols])[None, :]
                 - 1.0 * features.complexity[:, None] + 0.45 * conf_draw[:, cols])
        confidence[:, cols] = np.clip(_sigmoid(logit), 0.02, 0.99)
        # salient factors: the heaviest factors, perceived with noise; protective ones count too
        score = e + (features.slot_protective[:, :, None] * np.float32(prof.protective_weight * 2.0)) * w
        # salience noise: uniform on the log scale with sd 0.35 (cheaper to draw than a normal)
        salience_draw = rng.random((n, k, len(cols)), dtype=np.float32)
        spread = np.float32(0.35 * np.sqrt(3.0))
        score *= np.exp(spread * (2 * salience_draw - 1))
        score[(score <= 0) | empty[:, :, None]] = -1.0
        ranked = np.argsort(-score, axis=1)[:, :MAX_SALIENT, :]  # (n, S, R_p)
        ranked_score = np.take_along_axis(score, ranked, axis=1)
        ranked_factor = np.take_along_axis(
            np.broadcast_to(features.slot_factor[:, :, None], score.shape), ranked, axis=1)
        keep = (ranked_score > 0) & (np.arange(ranked.shape[1])[None, :, None]
                                     < n_salient[:, cols][:, None, :])
        chosen = np.where(keep, ranked_factor, -1).transpose(0, 2, 1)
        salient[:, cols, : chosen.shape[2]] = chosen
    risk = np.clip(np.round(10 * _sigmoid(1.4 * (latent - 2.6)) + 0.6 * risk_draw, 1), 0, 10)
    lead = _lead_agency(features, raters, need, agency_index, professions)
    median_seconds = np.array([professions[r.profession].seconds for r in raters])[None, :] * (
        0.6 + 0.1 * features.n_reports[:, None]) * (1.2 - 0.01 * np.minimum(
            np.array([r.experience for r in raters]), 20))[None, :]
    seconds = np.round(median_seconds * np.exp(0.35 * seconds_draw), 1)
    return RoundResult(tuple(raters), need, confidence, risk, salient, lead, seconds, latent, 1)


def _lead_agency(features: CaseFeatures, raters: Sequence[Rater], need: np.ndarray,
                 agency_index: Mapping[str, int],
                 professions: Mapping[str, ProfessionProfile]) -> np.ndarray:
    """Level 4: children's social care; 3: the agency raising most concerns; 2: the rater's own
    agency if involved, else the universal service; 1: the universal service (health visitor
    before school age, school after)."""
    universal = np.where(features.age_band >= 3, agency_index["school"], agency_index["health_visitor"])
    most = np.where(features.reporting_agencies.max(axis=1) > 0,
                    features.reporting_agencies.argmax(axis=1), universal)
    own = np.array([agency_index[professions[r.profession].agency] for r in raters])
    involved = features.reporting_agencies[:, own] > 0  # (n, R)
    level2 = np.where(involved, own[None, :], universal[:, None])
    lead = np.where(need == 4, agency_index["social_care"],
                    np.where(need == 3, most[:, None], np.where(need == 2, level2, universal[:, None])))
    return lead


def deliberate(first: RoundResult, features: CaseFeatures, professions: Mapping[str, ProfessionProfile],
               cat: Catalogue, rng: np.random.Generator, seen: np.ndarray | None = None) -> RoundResult:
    """Round 2: revise towards the panel median by the documented social-influence rule.

    ``seen`` (n_vignettes, n_raters) marks who rated what when raters have decks: the median
    and the colleagues' most cited factor then come only from the raters who saw the vignette.
    """
    level = first.need_level
    if seen is None:
        median = np.median(level, axis=1, keepdims=True)
    else:
        masked = np.where(seen, level, np.nan)
        nobody = ~seen.any(axis=1)
        masked[nobody] = 1.0  # unseen vignettes: no row is kept, any value will do
        median = np.nanmedian(masked, axis=1, keepdims=True)
    direction = np.sign(median - level)
    influence = np.array([professions[r.profession].influence for r in first.raters])[None, :]
    anchoring = np.array([r.anchoring for r in first.raters])[None, :]
    p_move = np.clip(influence * (1 - 0.6 * first.confidence) * (1 - anchoring), 0, 1)
    move = rng.random(level.shape) < p_move
    revised = np.clip(level + (direction * move).astype(np.int64), 1, 4)
    at_median = np.abs(revised - median) < 1
    confidence = np.where(at_median, first.confidence + 0.1 * (1 - first.confidence), first.confidence)
    # colleagues' most cited factor joins the salient list of those who listen
    n, n_raters, width = first.salient.shape
    counts = np.zeros((n, int(first.salient.max(initial=0)) + 2), dtype=np.int64)
    valid = first.salient >= 0
    if seen is not None:
        valid &= seen[:, :, None]
    np.add.at(counts, (np.repeat(np.arange(n), n_raters * width)[valid.ravel()],
                       first.salient.ravel()[valid.ravel()]), 1)
    top_cited = counts.argmax(axis=1)
    salient = first.salient.copy()
    listens = (rng.random(level.shape) < p_move) & (counts.max(axis=1) > 0)[:, None]
    already = (salient == top_cited[:, None, None]).any(axis=2)
    add = listens & ~already
    free = (salient < 0).argmax(axis=2)
    has_free = (salient < 0).any(axis=2)
    slot = np.where(has_free, free, width - 1)
    rows, cols = np.nonzero(add)
    salient[rows, cols, slot[rows, cols]] = top_cited[rows]
    agency_index = {a: i for i, a in enumerate(cat.agency_ids)}
    lead = _lead_agency(features, first.raters, revised, agency_index, professions)
    shift = (revised - level) * 0.6
    latent = first.latent + shift
    risk = np.clip(np.round(first.risk + 1.2 * (revised - level), 1), 0, 10)
    seconds = np.round(first.seconds * 0.5, 1)
    return RoundResult(first.raters, revised, confidence, risk, salient, lead, seconds, latent, 2)


def judgements_table(result: RoundResult, features: CaseFeatures, panel: PanelSpec, cat: Catalogue,
                     rationales: np.ndarray | None = None) -> pd.DataFrame:
    """The judgements table (``dsk.schema``) for one round, vignette-major."""
    n, n_raters = result.need_level.shape
    factor_ids = np.array(cat.factor_ids, dtype=object)
    agencies = np.array(cat.agency_ids, dtype=object)
    salient_lists = [[factor_ids[f] for f in row if f >= 0] for row in result.salient.reshape(n * n_raters, -1)]
    lead = agencies[result.lead_agency.ravel()]
    table = pd.DataFrame({
        "vignette_id": np.repeat(features.vignette_id, n_raters),
        "rater_id": np.tile(np.array([r.rater_id for r in result.raters], dtype=object), n),
        "rater_kind": "simulated",
        "profession": np.tile(np.array([r.profession for r in result.raters], dtype=object), n),
        "panel_id": panel.id,
        "round": result.round,
        "need_level": result.need_level.ravel().astype(np.int64),
        "confidence": np.round(result.confidence.ravel(), 3),
        "risk": result.risk.ravel().astype(float),
        "salient_factors": salient_lists,
        "rationale": rationales.ravel() if rationales is not None else "",
        "lead_agency": lead,
        "seconds": result.seconds.ravel().astype(float),
    })
    return table


def _deck_plan(decks: pd.DataFrame, features: CaseFeatures,
               raters: Sequence[Rater], panel: PanelSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who sees what: (seen, deck number, position), each of shape (n_vignettes, n_raters).

    The panel's raters, in order, are the deck plan's respondents in order (respondent 1 first).
    """
    missing = [c for c in ("respondent", "deck", "position", "vignette_id") if c not in decks.columns]
    if missing:
        raise ValueError(f"decks: missing columns {missing} (expected respondent, deck, position, vignette_id)")
    respondents = sorted(pd.unique(decks["respondent"]))
    if len(raters) > len(respondents):
        raise ValueError(f"panel {panel.id!r} has {len(raters)} raters but the decks have only "
                         f"{len(respondents)} respondents")
    row_of = {v: i for i, v in enumerate(features.vignette_id)}
    unknown = sorted({str(v) for v in decks["vignette_id"] if v not in row_of})
    if unknown:
        raise ValueError(f"decks: vignettes not in the vignettes table: {', '.join(unknown[:5])}"
                         f"{' ...' if len(unknown) > 5 else ''}")
    column_of = {r: j for j, r in enumerate(respondents[:len(raters)])}
    used = decks[decks["respondent"].isin(column_of)]
    shape = (len(features), len(raters))
    seen = np.zeros(shape, dtype=bool)
    deck = np.zeros(shape, dtype=np.int64)
    position = np.zeros(shape, dtype=np.int64)
    rows = used["vignette_id"].map(row_of).to_numpy(dtype=np.int64)
    cols = used["respondent"].map(column_of).to_numpy(dtype=np.int64)
    if len(set(zip(rows.tolist(), cols.tolist(), strict=True))) < len(rows):
        raise ValueError("decks: a respondent is given the same vignette twice")
    seen[rows, cols] = True
    deck[rows, cols] = used["deck"].to_numpy(dtype=np.int64)
    position[rows, cols] = used["position"].to_numpy(dtype=np.int64)
    return seen, deck, position


def _keep_decks(table: pd.DataFrame, seen: np.ndarray, deck: np.ndarray, position: np.ndarray,
                raters: Sequence[Rater]) -> pd.DataFrame:
    """Only the judgements each rater made on their own deck, rater by rater in deck order,
    with ``deck_id``, ``position`` and ``years_experience``."""
    n, n_raters = seen.shape  # the table is vignette-major: row i * n_raters + j
    keep = seen.ravel()
    out = table.loc[keep].copy()
    out["deck_id"] = [f"deck-{d}" for d in deck.ravel()[keep]]
    out["position"] = position.ravel()[keep].astype(np.int64)
    out["years_experience"] = np.tile(np.array([r.experience for r in raters], dtype=float), n)[keep]
    rater_index = np.tile(np.arange(n_raters), n)[keep]
    order = np.lexsort((out["position"].to_numpy(), rater_index))
    return out.iloc[order].reset_index(drop=True)


def simulate_panel(vignettes: pd.DataFrame, panel: PanelSpec, *, random_state: int = 0, rounds: int = 1,
                   professions: Mapping[str, ProfessionProfile], catalogue: Catalogue,
                   rationale: bool = True, decks: pd.DataFrame | None = None,
                   off: Collection[str] = ()) -> pd.DataFrame:
    """Judgements of a simulated panel on a vignettes table.

    Parameters
    ----------
    vignettes : the vignettes table.
    panel : a panel spec (see :func:`dsk.panels.load_panel`).
    random_state : combined with the panel's own seed; the same value gives the same table.
    rounds : 1, or 2 to add a deliberation round (rows with ``round == 2``).
    professions : the profession profiles, by id (see :func:`dsk.panels.load_professions`).
    catalogue : the catalogue the vignettes were made with.
    rationale : write each judgement's rationale text (slower).
    off : mechanisms to switch off (:data:`dsk.panels.mechanisms.MECHANISMS`); the random draws
        are the same whichever are off, so two runs differ only by what the mechanisms do.
    decks : a deck plan (columns ``respondent``, ``deck``, ``position``, ``vignette_id``, as from
        :func:`dsk.decks.make_decks` or ``dsk vignettes decks``). The panel's raters, in order,
        are its respondents in order; each rates only their own deck, and the table is ordered
        rater by rater in deck order with ``deck_id`` (``deck-N``), ``position`` and
        ``years_experience`` filled, so it has the missing-data structure of a real study. In
        round 2 raters see only the colleagues who rated the same vignette. Without decks
        every rater rates every vignette (the draws are the same either way).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.sets import load_set
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> j = simulate_panel(load_set("training-12", cat), load_panel("mixed-12", profs), random_state=1,
    ...                    professions=profs, catalogue=cat)
    >>> len(j), j["rater_id"].nunique(), bool(j["need_level"].between(1, 4).all())
    (144, 12, True)

    With decks, each rater rates only their own deck, in its order:

    >>> from dsk.decks import make_decks
    >>> ids = load_set("training-12", cat)["vignette_id"].tolist()
    >>> plan = make_decks(ids, 4, 12, random_state=1)
    >>> j = simulate_panel(load_set("training-12", cat), load_panel("mixed-12", profs), random_state=1,
    ...                    professions=profs, catalogue=cat, decks=plan)
    >>> len(j), j.groupby("rater_id")["vignette_id"].nunique().unique().tolist()
    (48, [4])
    >>> j[["deck_id", "position"]].head(2).to_dict("records")
    [{'deck_id': 'deck-1', 'position': 1}, {'deck_id': 'deck-1', 'position': 2}]
    """
    from dsk.panels.rationale import write_rationales

    if rounds not in (1, 2):
        raise ValueError(f"rounds must be 1 or 2, got {rounds}")
    cat = catalogue
    profs = neutral_profiles(professions, off)
    missing = [m.profession for m in panel.members if m.profession not in profs]
    if missing:
        raise ValueError(f"panel {panel.id!r}: unknown professions {missing}")
    rng = np.random.default_rng([panel.seed, random_state])
    features = case_features(vignettes, profs, cat)
    raters = draw_raters(panel, profs, cat, rng)
    plan = _deck_plan(decks, features, raters, panel) if decks is not None else None
    first = simulate_round(features, raters, profs, cat, rng)
    text_rng = np.random.default_rng([panel.seed, random_state, 7])
    tables = [judgements_table(first, features, panel, cat,
                               write_rationales(first, features, profs, cat, text_rng) if rationale else None)]
    if rounds == 2:
        second = deliberate(first, features, profs, cat, rng, seen=plan[0] if plan is not None else None)
        tables.append(judgements_table(
            second, features, panel, cat,
            write_rationales(second, features, profs, cat, text_rng, previous=first) if rationale else None))
    if plan is not None:
        tables = [_keep_decks(t, *plan, raters) for t in tables]
    out = pd.concat(tables, ignore_index=True)
    return validate(out, "judgements")
