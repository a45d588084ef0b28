"""The durable_rules backend handles the engine's known pitfalls (docs/architecture.md, "Rule backends")."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dsk.catalogue import load_catalogue
from dsk.rules import DurableRulesError, durable, evaluate, ruleset_from_text
from dsk.rules.durable import (
    GUARD_FIELD,
    GUARD_VALUE,
    SEEN_RULE,
    compile_ruleset,
    compiled_name,
    get_host,
)

CATALOGUE = load_catalogue()

OVERLAP = """\
id: overlap
title: Overlapping rules
hit_policy: max
default_level: 1
rules:
  - id: any-abuse
    when: domestic_abuse >= 1 or disclosure
    level: 3
  - id: abuse-with-disclosure
    when: domestic_abuse >= 1 and disclosure
    level: 4
  - id: never-for-these
    when: housing == 2 and housing == 0
    level: 2
"""


def test_compiled_rules_are_guarded_and_have_a_catch_all():
    definition = compile_ruleset(ruleset_from_text(OVERLAP, catalogue=CATALOGUE))
    assert list(definition) == ["any-abuse", "abuse-with-disclosure", "never-for-these", SEEN_RULE]
    for rule in definition.values():
        (test,) = rule["all"]
        expression = test["m"]
        guard = expression["$and"][0] if "$and" in expression else expression
        assert guard == {GUARD_FIELD: GUARD_VALUE}


def test_every_matching_rule_fires_on_a_fact_once(make_frame):
    """Facts, not events: both overlapping rules fire; an or with both sides true fires once."""
    rs = ruleset_from_text(OVERLAP, catalogue=CATALOGUE)
    v = make_frame(3, 1)
    v[["domestic_abuse", "disclosure", "housing"]] = [[2, 1, 0], [0, 0, 1], [0, 1, 2]]
    result = evaluate(rs, v, engine="durable", catalogue=CATALOGUE)
    assert [result.fired_ids(i) for i in range(3)] == [
        ["any-abuse", "abuse-with-disclosure"], [], ["any-abuse"]]
    assert result.defaulted.tolist() == [False, True, False]


def test_far_more_than_1024_vignettes(make_frame):
    """State is deleted per vignette, so the 1,024 live-state limit never bites."""
    rs = ruleset_from_text(OVERLAP, catalogue=CATALOGUE)
    v = make_frame(2600, 7)
    dur = evaluate(rs, v, engine="durable", catalogue=CATALOGUE)
    vec = evaluate(rs, v, engine="vector", catalogue=CATALOGUE)
    np.testing.assert_array_equal(dur.fired, vec.fired)
    assert dur.defaulted.sum() > 0  # unmatched vignettes go through the catch-all safely


def test_same_ruleset_twice_and_edited_ruleset_reuse_the_host(make_frame):
    """Compiled rulesets are named by content, so re-evaluating or editing is safe."""
    v = make_frame(20, 2)
    first = evaluate(ruleset_from_text(OVERLAP, catalogue=CATALOGUE), v, engine="durable", catalogue=CATALOGUE)
    again = evaluate(ruleset_from_text(OVERLAP, catalogue=CATALOGUE), v, engine="durable", catalogue=CATALOGUE)
    edited = evaluate(ruleset_from_text(OVERLAP.replace("level: 4", "level: 2"), catalogue=CATALOGUE), v,
                      engine="durable", catalogue=CATALOGUE)
    np.testing.assert_array_equal(first.fired, again.fired)
    assert compiled_name(compile_ruleset(first.ruleset)) == compiled_name(
        compile_ruleset(again.ruleset))
    assert edited.ruleset.version != first.ruleset.version
    assert get_host() is get_host()


def test_threads_share_one_host_safely(make_frame):
    rs = ruleset_from_text(OVERLAP, catalogue=CATALOGUE)
    frames = [make_frame(300, seed) for seed in range(4)]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = evaluate(rs, frames[i], engine="durable", catalogue=CATALOGUE).fired

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(results[i], evaluate(rs, f, engine="vector", catalogue=CATALOGUE).fired)


def test_host_starts_no_timer_threads():
    before = set(threading.enumerate())
    durable._Host()
    started = [t for t in threading.enumerate() if t not in before]
    assert not [t for t in started if isinstance(t, threading.Timer)]


def test_exception_in_an_action_is_raised(make_frame):
    """durable_rules stores an action's exception in state; the backend raises it."""
    name = "dsk-test.failing-action"
    host = get_host()
    with durable.engine_lock():
        if name not in durable._COMPILED:
            compiled = durable._Compiled(name, ("boom",))

            def boom(c):
                raise ZeroDivisionError("boom in action")

            host.register_rulesets({name: {
                "boom": {"all": [{"m": {GUARD_FIELD: GUARD_VALUE}}], "run": boom}}})
            durable._COMPILED[name] = compiled
    compiled = durable._COMPILED[name]
    ids = np.array(["v-broken"], dtype=object)
    with pytest.raises(DurableRulesError, match="v-broken.*boom in action"):
        durable._run(compiled, [{GUARD_FIELD: GUARD_VALUE, "dsk_row": 0}], ids)
