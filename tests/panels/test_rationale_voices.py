"""Simulated practitioners' reasons fit the child: no setting the child cannot be in."""

from __future__ import annotations

import pytest

from dsk.design import vignettes_from_specs
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.panels.profiles import ProfessionProfile

_SETTINGS = {
    "unborn": ("school", "classroom", "teacher", "nursery", "with the child"),
    "infant": ("school", "classroom", "teacher"),
    "preschool": ("school", "classroom", "teacher"),
    "primary": ("nursery",),
    "secondary": ("nursery",),
}


def test_every_opener_fits_the_childs_age(catalogue):
    professions = load_professions(catalogue=catalogue)
    specs = [{"id": f"{age}-{k}", "age_band": age, "factors": {"parental_mental_health": 2}}
             for age in _SETTINGS for k in range(8)]
    cases = vignettes_from_specs(specs, "voices", 3, catalogue)
    panel = load_panel("mixed-12", professions)
    judged = simulate_panel(cases, panel, random_state=2, professions=professions, catalogue=catalogue)
    ages = dict(zip(cases["vignette_id"], cases["age_band"], strict=True))
    openers = {v if isinstance(v, str) else v.text for p in professions.values() for v in p.voice}
    used = 0
    for vid, text in zip(judged["vignette_id"], judged["rationale"], strict=True):
        age = catalogue.child["age_band"].levels[int(ages[vid])]
        first = text.split(". ")[0]
        assert first[:1].isupper(), text
        opener = next((o for o in openers if first.startswith(o)), None)
        if opener is None:
            continue
        used += 1
        assert not any(word in opener.lower() for word in _SETTINGS[age]), (age, opener)
        # an opener is followed by a clause, not run into it
        assert opener.endswith(","), opener
    assert used > 100


def test_a_voice_with_an_unknown_age_band_is_refused():
    with pytest.raises(ValueError, match="unknown age bands \\['toddler'\\]"):
        ProfessionProfile.model_validate({"id": "x", "label": "X", "voice": [{"text": "Hi,", "ages": ["toddler"]}]})
