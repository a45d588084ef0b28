"""Property tests: both backends agree on random rulesets and random vignettes.

Random rulesets are generated as YAML text (so the parser is exercised too)
over a pool of factors, child attributes and derived features; random
vignettes draw every name uniformly within its range.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsk.catalogue import load_catalogue
from dsk.rules import evaluate, ruleset_from_text
from dsk.rules.language import evaluate_row, parse_condition
from dsk.rules.margins import branches, margin_matrix, margin_of_row

CATALOGUE = load_catalogue()
POOL = ("domestic_abuse", "housing", "disclosure", "age_band", "disability", "toxic_trio",
        "n_domains", "frequent_moves", "school_exclusion", "n_agencies", "basic_care")
SMALL_POOL = ("domestic_abuse", "housing", "disclosure", "age_band", "disability", "n_domains")
OPS = ("<", "<=", ">", ">=", "==", "!=")
AGENCIES = (None, "social_care", "school", "health_visitor")


@st.composite
def comparisons(draw, pool=POOL):
    name = draw(st.sampled_from(pool))
    lo, hi = CATALOGUE.value_range(name)
    value = draw(st.integers(lo, hi))
    levels = CATALOGUE.level_names(name)
    if not draw(st.sampled_from(["op", "op", "op", "bare"])) == "bare":
        op = draw(st.sampled_from(OPS))
        shown = levels[value] if levels and draw(st.booleans()) else str(value)
        return f"{name} {op} {shown}"
    return name


def conditions(pool=POOL):
    return st.recursive(
        comparisons(pool),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda c: f"not {c}"),
        ),
        max_leaves=5,
    )


@st.composite
def rulesets(draw):
    policy = draw(st.sampled_from(["max", "first", "priority", "collect"]))
    lines = ["id: random", "title: Random", f"hit_policy: {policy}",
             f"default_level: {draw(st.integers(1, 4))}", "rules:"]
    for i in range(draw(st.integers(1, 6))):
        lines += [f"  - id: r{i}", f"    when: \"{draw(conditions())}\"",
                  f"    level: {draw(st.integers(1, 4))}",
                  f"    priority: {draw(st.integers(-2, 2))}"]
        agency = draw(st.sampled_from(AGENCIES))
        if agency:
            lines.append(f"    lead_agency: {agency}")
    return ruleset_from_text("\n".join(lines) + "\n", catalogue=CATALOGUE)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rs=rulesets(), n=st.integers(1, 40), seed=st.integers(0, 2**31))
def test_backends_agree(make_frame, rs, n, seed):
    vignettes = make_frame(n, seed)
    vec = evaluate(rs, vignettes, engine="vector", margins=True, catalogue=CATALOGUE)
    dur = evaluate(rs, vignettes, engine="durable", margins=True, catalogue=CATALOGUE)
    np.testing.assert_array_equal(vec.fired, dur.fired)
    np.testing.assert_array_equal(vec.need_level, dur.need_level)
    np.testing.assert_array_equal(vec.decisive, dur.decisive)
    np.testing.assert_array_equal(vec.conflict, dur.conflict)
    np.testing.assert_array_equal(vec.defaulted, dur.defaulted)
    np.testing.assert_array_equal(vec.margins, dur.margins)
    # margin 0 exactly when fired; the fired sets match a row-by-row evaluation
    assert ((vec.margins == 0) == vec.fired).all()
    rows = vignettes.to_dict("records")
    expected = [[evaluate_row(r.condition, row) for r in rs.rules] for row in rows]
    np.testing.assert_array_equal(vec.fired, np.array(expected, dtype=bool))
    assert vec.decisions().drop(columns="fired").equals(dur.decisions().drop(columns="fired"))
    assert vec.trace().equals(dur.trace())


@settings(max_examples=150, deadline=None)
@given(text=conditions(SMALL_POOL), seed=st.integers(0, 2**31))
def test_margin_is_the_fewest_steps(make_frame, text, seed):
    """Margins against brute force over every value combination of the names read."""
    node = parse_condition(text, CATALOGUE)
    names = sorted({n for n in SMALL_POOL if n in text})
    row = make_frame(1, seed).iloc[0].to_dict()
    ranges = [range(CATALOGUE.value_range(n)[0], CATALOGUE.value_range(n)[1] + 1) for n in names]
    best = None
    for values in itertools.product(*ranges):
        candidate = {**row, **dict(zip(names, values, strict=True))}
        if evaluate_row(node, candidate):
            steps = sum(abs(v - int(row[n])) for n, v in zip(names, values, strict=True))
            best = steps if best is None else min(best, steps)
    bs = branches(node, CATALOGUE)
    assert margin_of_row(bs, row) == best
    columns = {n: np.array([int(row[n])]) for n in names}
    assert margin_matrix(bs, columns, CATALOGUE, 1)[0] == (-1 if best is None else best)
