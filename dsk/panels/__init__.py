"""Simulated practitioner panels and their profiles.

See :mod:`dsk.panels.simulate` for the model and :mod:`dsk.panels.profiles`
for its documented parameters.
"""

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
    "PanelError",
    "PanelMember",
    "PanelSpec",
    "ProfessionProfile",
    "load_panel",
    "load_professions",
    "simulate_panel",
]
