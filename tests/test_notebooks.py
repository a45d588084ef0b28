"""The notebooks run from top to bottom (executed with nbclient, as a reader would), and the
illustrative human-study file that notebook 03 reads is the one its script makes."""

from __future__ import annotations

import doctest
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dsk.catalogue import load_catalogue
from dsk.data.examples import make_human_example as example
from dsk.io import read_table
from dsk.sets import load_set

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert any(n.startswith("01-researcher-quickstart") for n in names)
    assert any(n.startswith("03-study-analysis") for n in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [i for i, cell in enumerate(code) if cell.get("outputs") or cell.get("execution_count")] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # the plots were drawn and the key tables shown
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("text/html" in o.get("data", {}) for o in outputs)


def test_human_example_script_examples() -> None:
    result = doctest.testmod(example, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_human_example_regenerates_byte_for_byte(tmp_path: Path) -> None:
    assert example.main([str(tmp_path / "again.csv")]) == 0
    assert (tmp_path / "again.csv").read_bytes() == example.FILE.read_bytes()


def test_human_example_is_the_study_it_describes() -> None:
    j = read_table(example.FILE, "judgements")
    assert len(j) == 24 * 15
    assert set(j["rater_kind"]) == {"human"}
    assert j["round"].unique().tolist() == [1]
    people = j.drop_duplicates("rater_id")
    assert people.groupby("site")["rater_id"].size().to_dict() == {"north": 12, "south": 12}
    assert people["profession"].value_counts().to_dict() == {
        "social_worker": 8, "health_visitor": 4, "teacher": 4, "police": 4, "paediatrician": 2, "gp": 2}
    # four decks of fifteen that split the set, six practitioners each, positions 1..15
    by_deck = j.groupby("deck_id").agg(raters=("rater_id", "nunique"), vignettes=("vignette_id", "nunique"))
    assert by_deck.to_dict("list") == {"raters": [6, 6, 6, 6], "vignettes": [15, 15, 15, 15]}
    assert j.groupby("vignette_id")["deck_id"].nunique().max() == 1
    assert sorted(j["vignette_id"].unique()) == sorted(load_set("core-60", load_catalogue())["vignette_id"])
    assert all(sorted(p) == list(range(1, 16)) for p in j.groupby("rater_id")["position"].apply(list))
    # paediatricians and GPs never score the same vignette
    seen = j.groupby("profession")["vignette_id"].apply(set)
    assert not seen["gp"] & seen["paediatrician"]
    # the columns this study did not collect are empty
    assert j["confidence"].isna().all() and j["risk"].isna().all()
    assert all(v is None or len(v) == 0 for v in j["salient_factors"])
    assert j["years_experience"].between(1, 25).all() and j["seconds"].gt(0).all()
