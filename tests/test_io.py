"""Vignette and table files: round trips and errors that name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dsk.catalogue import Catalogue
from dsk.io import TableFileError, read_table, read_vignettes, write_table


@pytest.fixture(scope="module")
def small(catalogue):
    from dsk.design import random_vignettes

    return random_vignettes(12, random_state=4, catalogue=catalogue)


@pytest.mark.parametrize("ext", ["jsonl", "parquet", "csv"])
def test_round_trip_keeps_every_value(tmp_path, catalogue, small, ext):
    path = write_table(small, tmp_path / f"v.{ext}")
    back = read_vignettes(path, catalogue)
    assert list(back.columns) == list(small.columns)
    for col in small.columns:
        if col == "reports":
            assert list(back[col]) == list(small[col])
        elif small[col].dtype.kind == "f":
            assert (back[col] - small[col]).abs().max() < 1e-9, col
        else:
            assert list(back[col]) == list(small[col]), col


def test_writing_twice_gives_the_same_bytes(tmp_path, small):
    for ext in ("jsonl", "parquet", "csv"):
        a = write_table(small, tmp_path / f"a.{ext}").read_bytes()
        b = write_table(small, tmp_path / f"b.{ext}").read_bytes()
        assert a == b, ext


def _jsonl_lines(tmp_path, small):
    path = write_table(small, tmp_path / "v.jsonl")
    return path, path.read_text().splitlines()


def _rewrite(path, lines, index, change):
    record = json.loads(lines[index])
    change(record)
    lines[index] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")


def test_corrupt_json_names_the_line(tmp_path, catalogue, small):
    path, lines = _jsonl_lines(tmp_path, small)
    lines[4] = lines[4][:-10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableFileError, match=r"v\.jsonl, line 5: not valid JSON"):
        read_vignettes(path, catalogue)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("domestic_abuse"), r"line 3: vignettes\.domestic_abuse: missing value"),
        (lambda r: r.update(domestic_abuse=7), r"line 3: .*domestic_abuse: value 7 outside \[0, 3\]"),
        (lambda r: r.update(hygiene="lots"), r"line 3: .*hygiene: expected an integer"),
        (lambda r: r.update(complexity_band="extreme"), r"line 3: .*complexity_band: 'extreme' is not one of"),
        (lambda r: r["reports"].append({"agency": "school", "factor": "hygine", "stance": "concern", "order": 99}),
         r"line 3: field 'reports\[\d+\]\.factor': unknown factor 'hygine'; did you mean hygiene"),
        (lambda r: r["reports"][0].pop("order"), r"line 3: field 'reports\[0\]\.order': missing"),
        (lambda r: r["reports"][0].update(agency="nursery"), r"line 3: field 'reports\[0\]\.agency': unknown agency"),
        (lambda r: r.update(age_band=1, school_attendance=2), r"line 3: field 'school_attendance': level 2 is not "
                                                              r"plausible .*school-age-only"),
    ],
)
def test_bad_values_name_file_line_and_field(tmp_path, catalogue, small, change, expected):
    path, lines = _jsonl_lines(tmp_path, small)
    _rewrite(path, lines, 2, change)
    with pytest.raises(TableFileError, match=expected) as info:
        read_vignettes(path, catalogue)
    assert str(path) in str(info.value)


def test_duplicate_ids_are_refused(tmp_path, catalogue, small):
    path, lines = _jsonl_lines(tmp_path, small)
    _rewrite(path, lines, 6, lambda r: r.update(vignette_id=json.loads(lines[1])["vignette_id"]))
    with pytest.raises(TableFileError, match="line 7: field 'vignette_id': duplicate id"):
        read_vignettes(path, catalogue)


def test_csv_errors_count_the_header(tmp_path, catalogue, small):
    path = write_table(small, tmp_path / "v.csv")
    df = pd.read_csv(path)
    df.loc[3, "self_harm"] = 9
    df.to_csv(path, index=False)
    with pytest.raises(TableFileError, match=r"v\.csv, line 5: .*self_harm: value 9"):
        read_vignettes(path, catalogue)


def test_unknown_extension_and_missing_file(tmp_path, catalogue):
    with pytest.raises(TableFileError, match="unknown file type '.xlsx'"):
        read_vignettes(tmp_path / "v.xlsx", catalogue)
    with pytest.raises(TableFileError, match="no such file"):
        read_vignettes(tmp_path / "v.jsonl", catalogue)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(TableFileError, match="not a readable Parquet file"):
        read_vignettes(tmp_path / "bad.parquet", catalogue)


def test_a_failed_write_leaves_the_old_file(tmp_path, small):
    path = write_table(small, tmp_path / "v.jsonl")
    before = path.read_bytes()
    broken = small.copy()
    broken["reports"] = [object()] * len(broken)  # not serialisable
    with pytest.raises(TypeError):
        write_table(broken, path)
    assert path.read_bytes() == before


def test_other_tables_round_trip(tmp_path):
    decisions = pd.DataFrame({
        "vignette_id": ["a", "b"], "ruleset_id": ["r", "r"], "ruleset_version": ["h", "h"],
        "need_level": [4, 1], "decisive_rule": ["x", None], "fired": [["x", "y"], []], "n_fired": [2, 0],
        "conflict": [True, False], "defaulted": [False, True], "lead_agency": ["social_care", None]})
    for ext in ("jsonl", "parquet", "csv"):
        back = read_table(write_table(decisions, tmp_path / f"d.{ext}"), "decisions")
        assert list(back["fired"]) == [["x", "y"], []], ext
        assert back["decisive_rule"].iloc[1] is None or pd.isna(back["decisive_rule"].iloc[1])
        assert list(back["need_level"]) == [4, 1]
    bad = decisions.assign(need_level=[4, 7])
    write_table(bad, tmp_path / "bad.csv")
    with pytest.raises(TableFileError, match=r"bad\.csv, line 3: .*need_level: value 7"):
        read_table(tmp_path / "bad.csv", "decisions")


def test_reports_are_written_back_in_their_recorded_order(tmp_path: Path, catalogue: Catalogue,
                                                         small: pd.DataFrame) -> None:
    path, lines = _jsonl_lines(tmp_path, small)
    record = json.loads(lines[0])
    assert len(record["reports"]) >= 2
    _rewrite(path, lines, 0, lambda r: r.update(reports=r["reports"][::-1]))
    back = read_vignettes(path, catalogue)
    assert back["reports"].iloc[0] == small["reports"].iloc[0]
    assert [r["order"] for r in back["reports"].iloc[0]] == list(range(1, len(record["reports"]) + 1))


def test_vignettes_are_read_with_the_catalogue(tmp_path: Path, small: pd.DataFrame) -> None:
    path = write_table(small, tmp_path / "v.parquet")
    with pytest.raises(TableFileError, match=r"v\.parquet: read vignettes with read_vignettes"):
        read_table(path, "vignettes")


JUDGEMENT_REQUIRED = ["vignette_id", "rater_id", "rater_kind", "round", "need_level"]


@pytest.mark.parametrize("ext", ["jsonl", "parquet", "csv"])
def test_judgements_need_only_the_required_columns(tmp_path: Path, ext: str) -> None:
    """A file with the required columns alone loads, with every optional column there and empty;
    columns it has are kept as they are."""
    from dsk.schema import columns

    people = pd.DataFrame({"vignette_id": ["a", "a", "b"], "rater_id": ["p1", "p2", "p1"],
                           "rater_kind": "human", "round": 1, "need_level": [2, 3, 4],
                           "confidence": [0.5, None, 0.75]})
    back = read_table(write_table(people, tmp_path / f"j.{ext}"), "judgements")
    optional = [c.name for c in columns("judgements") if not c.required]
    assert set(optional) <= set(back.columns)
    assert back[[c for c in optional if c != "confidence"]].isna().all().all()
    assert back["salient_factors"].tolist() == [None, None, None]
    assert back["need_level"].tolist() == [2, 3, 4]
    assert back["confidence"].tolist()[::2] == [0.5, 0.75] and pd.isna(back["confidence"].iloc[1])


def test_older_judgements_without_deck_columns_still_load(tmp_path: Path) -> None:
    """A file written before deck_id, position, site and years_experience existed."""
    old = pd.DataFrame({"vignette_id": ["a"], "rater_id": ["p1"], "rater_kind": ["human"],
                        "profession": ["police"], "panel_id": ["s"], "round": [1], "need_level": [3],
                        "confidence": [0.8], "risk": [4.0], "salient_factors": [["disclosure"]],
                        "rationale": ["because"], "lead_agency": ["police"], "seconds": [40.0]})
    back = read_table(write_table(old, tmp_path / "old.jsonl"), "judgements")
    assert back["salient_factors"].tolist() == [["disclosure"]] and back["rationale"].tolist() == ["because"]
    assert back[["deck_id", "position", "site", "years_experience"]].isna().all().all()


def test_every_missing_required_column_is_named_at_once(tmp_path: Path) -> None:
    partial = pd.DataFrame({"vignette_id": ["a"], "need_level": [3], "confidence": [0.5]})
    path = write_table(partial, tmp_path / "partial.csv")
    with pytest.raises(TableFileError) as info:
        read_table(path, "judgements")
    assert str(info.value) == f"{path}: judgements: missing required columns rater_id, rater_kind, round"
    one = write_table(partial.assign(rater_id="p", rater_kind="human"), tmp_path / "one.csv")
    with pytest.raises(TableFileError, match=r"one\.csv: judgements: missing required column round$"):
        read_table(one, "judgements")
