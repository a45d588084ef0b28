"""Analyses of judgements: agreement, explanations, failure points and learned checklists.

Each function takes the tables of docs/architecture.md ("Tables") and returns a
table:

- :mod:`dsk.analysis.coefficients`: agreement coefficients on any long-format
  ratings (pingouin-style: data plus column names in).
- :mod:`dsk.analysis.comparisons`: the agreement comparisons of an experiment
  (within the panel, between professions and rounds, the rules against the
  panel), per stratum of :mod:`dsk.analysis.strata`.
- :mod:`dsk.analysis.consensus`: the panel's consensus level, one definition
  for every analysis.
- :mod:`dsk.analysis.explain`, :mod:`dsk.analysis.failures` and
  :mod:`dsk.analysis.learned`.
"""

from dsk.analysis.coefficients import (
    MULTI_RATER_METRICS,
    AgreementInputError,
    agreement,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    percent_agreement,
)
from dsk.analysis.comparisons import (
    GROUP_METRICS,
    PAIR_METRICS,
    RATER_METRICS,
    agreement_stats,
    rules_as_rater,
)
from dsk.analysis.consensus import median_level
from dsk.analysis.explain import ShapComparison, factor_overlap, permutation_shap, shap_comparison
from dsk.analysis.failures import divergence_model, failure_points, teaching_cases
from dsk.analysis.learned import LearnedChecklist, checklist_fidelity, learn_checklist
from dsk.analysis.strata import complexity_strata

__all__ = [
    "GROUP_METRICS",
    "MULTI_RATER_METRICS",
    "PAIR_METRICS",
    "RATER_METRICS",
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
    "median_level",
    "percent_agreement",
    "rules_as_rater",
]
