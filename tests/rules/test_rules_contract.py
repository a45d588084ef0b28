"""Every bundled ruleset goes through the same contract (the registry contract of docs/architecture.md).

A bundled ruleset without an entry in CONTRACT fails the registry test, so a
new checklist cannot be added without saying what it is expected to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsk.rules import bundled_rulesets, evaluate, load_ruleset
from dsk.rules.lint import check_ruleset
from dsk.schema import validate

#: Per ruleset: hit policy, and the levels it must be able to reach on the sample.
CONTRACT = {
    "threshold-of-need": {"hit_policy": "max", "levels": {1, 2, 3, 4}, "because": "all"},
    "toxic-trio": {"hit_policy": "max", "levels": {1, 2, 3, 4}, "because": "all"},
    "count-of-concerns": {"hit_policy": "first", "levels": {1, 2, 3, 4}, "because": "all"},
}
BUNDLED = bundled_rulesets()


def test_every_bundled_ruleset_has_contract_settings():
    assert set(BUNDLED) == set(CONTRACT)


@pytest.fixture(scope="module", params=sorted(BUNDLED))
def bundled(request, catalogue):
    return load_ruleset(BUNDLED[request.param], catalogue)


def test_file_name_is_the_ruleset_id(bundled):
    assert BUNDLED[bundled.id] == Path(bundled.source)
    assert bundled.hit_policy == CONTRACT[bundled.id]["hit_policy"]


def test_every_rule_has_a_because(bundled):
    assert [r.id for r in bundled.rules if not r.because] == []


def test_both_backends_agree_on_designed_vignettes(bundled, rules_sample, catalogue):
    vec = evaluate(bundled, rules_sample, "vector", margins=True, catalogue=catalogue)
    dur = evaluate(bundled, rules_sample, "durable", margins=True, catalogue=catalogue)
    decisions = validate(vec.decisions(), "decisions")
    assert decisions.equals(validate(dur.decisions(), "decisions"))
    assert validate(vec.trace(), "trace").equals(validate(dur.trace(), "trace"))
    assert set(np.unique(vec.need_level)) == CONTRACT[bundled.id]["levels"]
    assert (decisions["ruleset_version"] == bundled.version).all()
    assert (decisions["n_fired"] == decisions["fired"].map(len)).all()
    assert (decisions["defaulted"] == (decisions["n_fired"] == 0)).all()


def test_passes_check_without_errors(bundled, catalogue):
    """As ``dsk rules check`` runs it: 20,000 random designed vignettes."""
    report = check_ruleset(bundled.source, catalogue)
    assert report.ok, report.lines()
    assert report.warnings == []


def test_threshold_of_need_covers_domain_indicators(catalogue):
    """Every concern factor of the catalogue is read by some threshold-of-need rule."""
    rs = load_ruleset(BUNDLED["threshold-of-need"], catalogue)
    concerns = {f.id for f in catalogue.factors if not f.protective}
    assert concerns - set(rs.names) == set()


def test_threshold_of_need_by_hand(catalogue, make_frame):
    """Hand-made cases: nothing; a disclosure; two early-help needs; an infant at risk."""
    rs = load_ruleset(BUNDLED["threshold-of-need"], catalogue)
    v = make_frame(4, 0)
    v[list(rs.names)] = 0
    v["age_band"] = 3
    v.loc[1, "disclosure"] = 1
    v.loc[2, ["financial_hardship", "new_partner"]] = [1, 1]
    v.loc[3, ["parental_mental_health", "age_band"]] = [2, 1]
    for engine in ("vector", "durable"):
        d = evaluate(rs, v, engine, catalogue=catalogue).decisions()
        assert d["need_level"].tolist() == [1, 4, 2, 4]
        assert d["decisive_rule"].tolist() == [None, "disclosure", "financial-hardship",
                                               "parental-difficulty-with-baby"]
        assert d["lead_agency"].tolist() == [None, "social_care", "school", "social_care"]
        assert d["conflict"].tolist() == [False, False, False, True]
