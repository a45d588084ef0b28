"""Minimal pairs: a variant's narrative differs from its original only in the changed factors' sentences."""

from __future__ import annotations

import difflib

import numpy as np
import pytest

from dsk.narrative import narrative_segments, render_narrative
from dsk.vary import VaryError, vary_vignette

#: Parts whose one sentence is chosen by weighing several factors (the most serious concern,
#: the child's most serious worry): it may change when the changed factor was, or becomes, the one chosen.
#: An account's header (who got in touch, and when) is dated by the agency's first report, so it may
#: change when that report's factor comes or goes; those are matched by agency. What an agency with
#: no account of its own shares is told beside the first concern it shares: matched by who says it.
_CHOSEN = ("opening", "child", "parents")


def _pairs(catalogue, vignettes, n_changes: int, seed: int):
    rng = np.random.default_rng(seed)
    for _, row in vignettes.iterrows():
        present = [f for f in catalogue.factors if int(row[f.id]) > 0]
        for k in range(n_changes):
            if k % 2 and present:  # every other change takes a present factor away
                f, level = present[int(rng.integers(len(present)))], 0
            else:
                f = catalogue.factors[int(rng.integers(len(catalogue.factors)))]
                level = int(rng.integers(f.n_levels))
            if level == int(row[f.id]):
                continue
            try:
                variant = vary_vignette(vignettes, row["vignette_id"], {f.id: level}, catalogue)
            except VaryError:
                continue  # not plausible at this child's age
            yield row, variant.iloc[0], f.id


def _may_differ(s, others, changed) -> bool:
    """Whether sentence ``s`` may be missing from ``others``, the whole other text of the pair."""
    if changed in s.factors:
        return True
    if s.part in _CHOSEN or s.part == "header":
        twin = next((t for t in others if t.part == s.part and t.agency == s.agency), None)
        return twin is not None and changed in twin.factors
    if s.part == "share":  # what one agency shares, wherever it is told
        twin = next((t for t in others if t.part == "share" and t.speaker == s.speaker), None)
        return twin is not None and changed in twin.factors  # a moved one: see _moved
    return False


def _check_same_but_changed(before, after, changed, where, whole_before, whole_after) -> None:
    a = [(s.part, s.agency, s.text) for s in before]
    b = [(s.part, s.agency, s.text) for s in after]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for s in before[i1:i2]:
            assert _may_differ(s, whole_after, changed) or _moved(s, whole_before, whole_after, changed), \
                (where, changed, s)
        for s in after[j1:j2]:
            assert _may_differ(s, whole_before, changed) or _moved(s, whole_after, whole_before, changed), \
                (where, changed, s)


def _moved(s, mine, others, changed) -> bool:
    """A share sentence told elsewhere because its speaker's own account came or went."""
    if s.part != "share":
        return False
    twin = next((t for t in others if t.part == "share" and t.speaker == s.speaker), None)
    headers = [t for t in (*mine, *others) if t.part == "header" and t.agency == s.speaker]
    return twin is not None and twin.text == s.text and any(changed in t.factors for t in headers)


def test_only_the_changed_factors_sentences_differ(catalogue, stratified_set):
    """Outside the accounts, and inside each agency's account, only the changed factor's sentences
    differ; the agencies' accounts keep their order, except one whose first contact was about the
    changed factor (it then first got in touch later, or earlier)."""
    checked = added = removed = 0
    for row, variant, changed in _pairs(catalogue, stratified_set, 4, seed=7):
        before, after = narrative_segments(row, catalogue), narrative_segments(variant, catalogue)
        where = row["vignette_id"]
        _check_same_but_changed([s for s in before if s.agency is None], [s for s in after if s.agency is None],
                                changed, where, before, after)
        agencies_before = list(dict.fromkeys(s.agency for s in before if s.agency))
        agencies_after = list(dict.fromkeys(s.agency for s in after if s.agency))
        for agency in set(agencies_before) | set(agencies_after):
            _check_same_but_changed([s for s in before if s.agency == agency],
                                    [s for s in after if s.agency == agency], changed, where, before, after)
        moved = {s.agency for s in before + after if s.part == "header" and changed in s.factors}
        assert [x for x in agencies_before if x not in moved and x in agencies_after] == \
            [x for x in agencies_after if x not in moved and x in agencies_before], where
        added += int(row[changed]) == 0
        removed += int(variant[changed]) == 0
        checked += 1
    assert checked >= 150 and added >= 40 and removed >= 20, (checked, added, removed)


def test_a_variant_renders_as_its_own_text(catalogue, stratified_set):
    """The stored narrative of a variant is what rendering it gives: nothing is patched in."""
    for _, variant, _ in list(_pairs(catalogue, stratified_set.head(20), 2, seed=3)):
        assert render_narrative(variant.to_dict(), catalogue) == variant["narrative"]


def test_a_newly_present_factor_is_told_by_an_agency_already_there(catalogue):
    from dsk.sets import load_set

    cases = load_set("training-12", catalogue)
    row = cases[cases["vignette_id"] == "wicked-08-protective"].iloc[0]
    variant = vary_vignette(cases, row["vignette_id"], {"domestic_abuse": "historic"}, catalogue).iloc[0]
    new = [r for r in variant["reports"] if r["factor"] == "domestic_abuse"]
    assert len(new) == 1
    assert new[0]["agency"] in {r["agency"] for r in row["reports"]} | set(catalogue.factor("domestic_abuse").agencies)
    assert new[0]["order"] == max(r["order"] for r in row["reports"]) + 1
    kept = [r for r in variant["reports"] if r["factor"] != "domestic_abuse"]
    assert kept == sorted(row["reports"], key=lambda r: r["order"])


def test_impossible_changes_are_refused_with_every_problem(catalogue):
    from dsk.sets import load_set

    cases = load_set("training-12", catalogue)
    with pytest.raises(VaryError) as info:
        vary_vignette(cases, "tame-03-injury", {"school_attendance": "persistent_absence", "hygeine": 1,
                                                "domestic_abuse": "weekly"}, catalogue)
    text = str(info.value)
    assert "hygeine" in text and "did you mean hygiene" in text
    assert "domestic_abuse: no level 'weekly'" in text


def test_vary_on_the_command_line(tmp_path, catalogue):
    from typer.testing import CliRunner

    from dsk.cli import app
    from dsk.io import read_vignettes
    from dsk.sets import sets_dir

    runner = CliRunner()
    out = tmp_path / "pair.jsonl"
    source = str(sets_dir() / "training-12.jsonl")
    done = runner.invoke(app, ["vignettes", "vary", source, "--id", "wicked-08-protective",
                               "--set", "extended_family_support=absent", "--with-original", "-o", str(out)])
    assert done.exit_code == 0, done.output
    pair = read_vignettes(out, catalogue)
    assert pair["vignette_id"].tolist() == ["wicked-08-protective",
                                            "wicked-08-protective-extended_family_support-absent"]
    assert "extended_family_support: present -> absent" in " ".join(done.output.split())
    bad = runner.invoke(app, ["vignettes", "vary", source, "--id", "wicked-08-protective",
                              "--set", "grandma=absent", "--set", "trusted_adult", "-o", str(out)])
    assert bad.exit_code != 0
    assert "trusted_adult" in bad.output and "FACTOR=LEVEL" in bad.output


def test_rules_explain_shows_both_sides_of_a_pair():
    from typer.testing import CliRunner

    from dsk.cli import app
    from dsk.sets import sets_dir

    source = str(sets_dir() / "training-12.jsonl")
    done = CliRunner().invoke(app, ["rules", "explain", "threshold-of-need", source, "--id", "wicked-05-toxic-trio-baby",
                                    "--set", "domestic_abuse=none", "--set", "parental_substance_misuse=none"])
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert text.count("vignette wicked-05-toxic-trio-baby:") == 1
    assert "vignette wicked-05-toxic-trio-baby-domestic_abuse-none-parental_substance_misuse-none" in text
    assert "decision: level 3 -> level 2" in text and "no longer fire" in text


def test_panel_simulate_judges_both_sides_of_a_pair_with_the_same_raters(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from dsk.cli import app

    out = tmp_path / "pair.csv"
    done = CliRunner().invoke(app, ["panel", "simulate", "mixed-12", "training-12", "--id", "wicked-08-protective",
                                    "--set", "extended_family_support=absent", "--set", "trusted_adult=absent",
                                    "-o", str(out), "--no-rationale"])
    assert done.exit_code == 0, done.output
    judged = pd.read_csv(out)
    by = judged.groupby("vignette_id")["rater_id"].apply(sorted)
    assert len(by) == 2 and by.iloc[0] == by.iloc[1]
    text = " ".join(done.output.split())
    assert "median" in text and "original" in text and "variant" in text
    half = CliRunner().invoke(app, ["panel", "simulate", "mixed-12", "training-12", "--id", "wicked-08-protective",
                                    "-o", str(out)])
    assert half.exit_code != 0 and "give --id and --set together" in half.output
