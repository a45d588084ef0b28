"""Analyses of judgements: agreement between rules and practitioners (and more to come).

Each function takes the tables of DESIGN.md and returns a table; see
:mod:`dsk.analysis.agreement`.
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

__all__ = [
    "AgreementInputError",
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
