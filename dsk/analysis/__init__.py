"""Analyses of judgements: agreement, explanations, failure points and learned checklists.

Each function takes the tables of DESIGN.md and returns a table; see
:mod:`dsk.analysis.agreement`, :mod:`dsk.analysis.explain`,
:mod:`dsk.analysis.failures` and :mod:`dsk.analysis.learned`.
"""

from dsk.analysis.agreement import (
    AgreementInputError,
    agreement,
    agreement_stats,
    brennan_prediger,
    cohen_kappa,
    complexity_strata,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    percent_agreement,
    rules_as_rater,
)
from dsk.analysis.explain import ShapComparison, factor_overlap, permutation_shap, shap_comparison
from dsk.analysis.failures import divergence_model, failure_points, teaching_cases
from dsk.analysis.learned import LearnedChecklist, checklist_fidelity, learn_checklist

__all__ = [
    "AgreementInputError",
    "LearnedChecklist",
    "ShapComparison",
    "checklist_fidelity",
    "divergence_model",
    "factor_overlap",
    "failure_points",
    "learn_checklist",
    "permutation_shap",
    "shap_comparison",
    "teaching_cases",
    "agreement",
    "agreement_stats",
    "brennan_prediger",
    "cohen_kappa",
    "complexity_strata",
    "fleiss_kappa",
    "gwet_ac",
    "krippendorff_alpha",
    "percent_agreement",
    "rules_as_rater",
]
