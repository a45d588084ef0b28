"""Analyses of judgements: agreement, explanations, failure points and learned checklists.

Each function takes the run's tables (``docs/architecture.md`` describes them)
and returns a table; see :mod:`dsk.analysis.agreement`,
:mod:`dsk.analysis.explain`, :mod:`dsk.analysis.failures` and
:mod:`dsk.analysis.learned`. Every analysis an experiment can run is
registered in :mod:`dsk.analysis.registry` (``docs/architecture.md``, section
"Analysis registry"); the statistics are described in ``docs/methods.md``.

Examples
--------
>>> from dsk.analysis import analysis_names
>>> analysis_names()
('agreement', 'explanations', 'failures', 'learned')
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

__all__ = [
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
