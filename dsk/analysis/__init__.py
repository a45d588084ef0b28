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
- :mod:`dsk.analysis.variance`: variance components of the levels (vignette,
  practitioner, residual) and the reliability of k practitioners.

Every analysis an experiment can run is registered in
:mod:`dsk.analysis.registry` (docs/architecture.md, "Analysis registry"); the
statistics are described in docs/methods.md.

Examples
--------
>>> from dsk.analysis import analysis_names
>>> analysis_names()
('agreement', 'explanations', 'failures', 'learned', 'variance', 'models')
"""

from dsk.analysis.coefficients import (
    MULTI_RATER_METRICS,
    AgreementInputError,
    agreement,
    brennan_prediger,
    cohen_kappa,
    conger_kappa,
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
from dsk.analysis.failures import divergence_model, failure_points, teaching_cases, teaching_check
from dsk.analysis.learned import (
    LearnedChecklist,
    checklist_fidelity,
    learn_checklist,
    out_of_fold_fidelity,
    out_of_fold_levels,
)
from dsk.analysis.registry import (
    Analysis,
    AnalysisInputs,
    AnalysisResult,
    AnalysisSettings,
    analysis_names,
    get_analysis,
    register,
    registered,
    run_analyses,
)
from dsk.analysis.strata import complexity_strata

__all__ = [
    "GROUP_METRICS",
    "MULTI_RATER_METRICS",
    "PAIR_METRICS",
    "RATER_METRICS",
    "Analysis",
    "AnalysisInputs",
    "AnalysisResult",
    "AnalysisSettings",
    "AgreementInputError",
    "LearnedChecklist",
    "ShapComparison",
    "analysis_names",
    "checklist_fidelity",
    "divergence_model",
    "factor_overlap",
    "failure_points",
    "get_analysis",
    "learn_checklist",
    "out_of_fold_fidelity",
    "out_of_fold_levels",
    "permutation_shap",
    "register",
    "registered",
    "run_analyses",
    "shap_comparison",
    "teaching_cases",
    "teaching_check",
    "agreement",
    "agreement_stats",
    "brennan_prediger",
    "cohen_kappa",
    "complexity_strata",
    "conger_kappa",
    "fleiss_kappa",
    "gwet_ac",
    "krippendorff_alpha",
    "median_level",
    "percent_agreement",
    "rules_as_rater",
]
