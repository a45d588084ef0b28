"""Simulated practitioner panels and their profiles.

See :mod:`dsk.panels.simulate` for the model, :mod:`dsk.panels.profiles`
for its documented parameters, :mod:`dsk.panels.mechanisms` for its mechanisms and their
support, and :mod:`dsk.panels.ablate` for which of them produces which finding.

Examples
--------
A panel of eight social workers judges the twelve training vignettes; the
disclosure of abuse is a clear level 4, the family with universal needs a
clear level 1:

>>> from dsk.catalogue import load_catalogue
>>> from dsk.panels import load_panel, load_professions, simulate_panel
>>> from dsk.sets import load_set
>>> cat = load_catalogue()
>>> professions = load_professions(catalogue=cat)
>>> panel = load_panel("social-workers-8", professions)
>>> judgements = simulate_panel(load_set("training-12", cat), panel, random_state=1,
...                             professions=professions, catalogue=cat, rationale=False)
>>> judgements.groupby("vignette_id")["need_level"].median().head(4)
vignette_id
tame-01-disclosure    4.0
tame-02-universal     1.0
tame-03-injury        4.0
tame-04-hardship      1.0
Name: need_level, dtype: float64
"""

from dsk.panels.ablate import Ablation, ablate
from dsk.panels.profiles import (
    PanelError,
    PanelMember,
    PanelSpec,
    ProfessionProfile,
    load_panel,
    load_professions,
)
from dsk.panels.simulate import CONFLICT_WEIGHT, simulate_panel

__all__ = [
    "CONFLICT_WEIGHT",
    "Ablation",
    "PanelError",
    "PanelMember",
    "PanelSpec",
    "ProfessionProfile",
    "ablate",
    "load_panel",
    "load_professions",
    "simulate_panel",
]
