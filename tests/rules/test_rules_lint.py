"""``dsk rules check`` logic: errors, warnings and notes on small hand-made rulesets."""

from __future__ import annotations

import pytest

from dsk.rules.lint import check_ruleset, lint_ruleset
from dsk.rules.ruleset import ruleset_from_text

HEADER = "id: lint\ntitle: Lint\nhit_policy: {policy}\ndefault_level: 1\nrules:\n"


def rule(rid: str, when: str, level: int, because: str | None = "Reason.") -> str:
    text = f"  - id: {rid}\n    when: \"{when}\"\n    level: {level}\n"
    return text + (f"    because: {because}\n" if because else "")


@pytest.fixture(scope="module")
def sample(make_frame):
    return make_frame(3000, 5)


def messages(report, severity):
    return {(f.rule, f.message.split(":")[0].split(" on ")[0])
            for f in report.findings if f.severity == severity}


def test_never_fire_shadowed_and_never_seen(catalogue, sample):
    text = HEADER.format(policy="first") + "".join([
        rule("broad", "domestic_abuse >= 1", 3),
        rule("narrow", "domestic_abuse >= 2 and housing == 1", 4),      # implied by broad
        rule("impossible", "housing > 2", 2),                            # beyond the range
        rule("contradiction", "housing == 1 and housing == 2", 2),
        rule("never-decides", "domestic_abuse == 3 or housing == 2", 2, because=None),
        rule("fine", "housing == 2", 2),
    ])
    report = lint_ruleset(ruleset_from_text(text, "lint.yaml", catalogue=catalogue), catalogue, sample)
    warnings = messages(report, "warning")
    assert ("narrow", "shadowed under hit_policy first") in warnings
    assert ("impossible", "can never fire") in warnings
    assert ("contradiction", "can never fire") in warnings
    assert ("fine", "shadowed under hit_policy first") in warnings  # implied by never-decides
    assert ("never-decides", "no 'because' text to explain the rule") in messages(report, "note")
    assert all(r != "broad" for r, _ in warnings)
    assert report.ok  # warnings only


def test_default_share_and_conflicting_pairs(catalogue, sample):
    text = HEADER.format(policy="max") + rule("a", "disclosure", 4) + rule("b", "housing >= 1", 3)
    report = lint_ruleset(ruleset_from_text(text, "lint.yaml", catalogue=catalogue), catalogue, sample)
    notes = [f.message for f in report.findings if f.severity == "note"]
    share = ((sample["disclosure"] == 0) & (sample["housing"] == 0)).mean()
    assert any(m.startswith(f"{share:.1%} of 3,000 random vignettes fall to the default")
               for m in notes)
    together = ((sample["disclosure"] == 1) & (sample["housing"] >= 1)).sum()
    assert any(f"a (level 4) with b (level 3): {together:,}" in m for m in notes)
    assert report.warnings == []


def test_never_fires_on_sample(catalogue, sample):
    sample = sample.assign(disclosure=0)
    text = HEADER.format(policy="max") + rule("a", "disclosure", 4)
    report = lint_ruleset(ruleset_from_text(text, "lint.yaml", catalogue=catalogue), catalogue, sample)
    assert ("a", "never fired") in messages(report, "warning")


def test_parse_errors_become_error_findings(tmp_path, catalogue, sample):
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER.format(policy="max") + rule("a", "disclosur", 4), encoding="utf-8")
    report = check_ruleset(path, catalogue, sample=sample)
    assert not report.ok
    (error,) = report.errors
    assert (error.line, error.column, error.rule) == (7, 12, "a")  # after the quote
    assert error.format(str(path)).startswith(f"{path}:7:12: error: rule 'a': field 'when': "
                                              "unknown name 'disclosur'")


def test_every_parse_error_is_a_finding(tmp_path, catalogue, sample):
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER.format(policy="max") + rule("a", "disclosur", 4)
                    + rule("b", "housing >= 9", 5), encoding="utf-8")
    report = check_ruleset(path, catalogue, sample=sample)
    assert [(e.line, e.column, e.rule, e.message.split(":")[0]) for e in report.errors] == [
        (7, 12, "a", "field 'when'"), (11, 23, "b", "field 'when'"), (12, 12, "b", "field 'level'")]


def test_shadowed_on_the_sample_only(catalogue, sample):
    sample = sample.assign(disclosure=(sample["housing"] >= 1).astype(int))
    text = HEADER.format(policy="first") + rule("a", "disclosure", 4) + rule("b", "housing >= 1", 3)
    report = lint_ruleset(ruleset_from_text(text, "lint.yaml", catalogue=catalogue), catalogue, sample)
    (warning,) = report.warnings
    assert warning.rule == "b"
    assert warning.message.startswith("shadowed under hit_policy first on all 3,000 random")
