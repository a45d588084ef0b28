"""The report's "Which assumption produces which finding" part and its first summary sentence.

On the quickstart run (a simulated panel): the first sentence of the summary says the panel is
simulated, gives the item-reading share from the ablation table and links to #ablation; the
part in the methods appendix shows every mechanism with its support, every variant of every
finding, and the produced-by rows, and every number in it is its ablation row's value (read
back independently by report_check). A copy whose ablation table is changed is caught, and a
copy without one has neither the part nor the link.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from report_check import mismatches, numbers_in

from dsk.panels.ablate import variants
from dsk.panels.mechanisms import MECHANISMS
from dsk.report import render_html


def _text(fragment: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}"')
    return html[start:html.index("</section>", start)]


@pytest.fixture(scope="module")
def html(quick_run: Path) -> str:
    return (quick_run / "report.html").read_text(encoding="utf-8")


def test_first_summary_sentence_says_simulated_and_points_to_the_ablation(quick_run: Path, html: str) -> None:
    summary = _section(html, "summary")
    first = summary[summary.index("<p>"):summary.index("</p>")]
    words = _text(first)
    assert "a simulated panel of 12 practitioners" in words
    assert "results follow from the model's assumptions" in words
    assert '<a href="#ablation">which assumption produces which finding</a>' in first
    spans = numbers_in(first)
    assert [s.attrs["data-table"] for s in spans] == ["ablation"]
    key = json.loads(spans[0].attrs["data-row-key"])
    assert key == {"panel_id": "mixed-12", "variant": "full", "finding": "item_reading_share", "stratum": "all"}
    ablation = pd.read_parquet(quick_run / "ablation.parquet")
    share = ablation[(ablation["finding"] == "item_reading_share") & (ablation["stratum"] == "all")]["value"]
    assert f"the item table alone decides {share.iloc[0] * 100:.0f}% of the simulated levels" in words
    assert not mismatches(first, quick_run)


def test_the_part_is_in_the_methods_appendix_and_agrees_with_its_table(quick_run: Path, html: str) -> None:
    methods = html[html.index('<section id="methods"'):]
    assert '<section id="ablation"' in methods
    part = _section(html, "ablation")
    assert "Which assumption produces which finding" in part
    found = [n for n in numbers_in(html) if n.section == "ablation"]
    ablation = pd.read_parquet(quick_run / "ablation.parquet")
    tables = {t for t in (n.attrs["data-table"] for n in found)}
    assert tables == {"ablation"}
    # every variant of every shown finding, with every value: one span per cell
    shown = ablation[ablation["finding"].isin(["alpha_ordinal", "exact_agreement", "checklist_exact",
                                               "teaching_divergent"])]
    keys = {json.dumps(json.loads(n.attrs["data-row-key"]), sort_keys=True) for n in found}
    for row in shown.itertuples():
        key = {"panel_id": row.panel_id, "variant": row.variant, "finding": row.finding, "stratum": row.stratum}
        if isinstance(row.ruleset, str):
            key["ruleset"] = row.ruleset
        assert json.dumps(key, sort_keys=True) in keys, key
    assert not mismatches(part, quick_run)


def test_every_mechanism_is_shown_with_its_support(html: str) -> None:
    part = _section(html, "ablation")
    for m in MECHANISMS:
        start = part.index(f'<dt id="mechanism-{m.id}">')
        entry = part[start:part.index("</dd>", start)]
        text = _text(entry)
        assert text.startswith(f"{m.label}: {m.support}"), text[:120]
        if m.supported:
            for source in m.sources:
                assert " ".join(source.citation.split()) in text
        else:
            assert "<strong>assumption</strong>" in entry
        assert " ".join(m.assumption.split()) in text
    rows = re.findall(r'<tr data-variant="([^"]+)">', part)
    assert set(rows) == set(variants())


def test_produced_by_and_drivers_follow_the_tables(quick_run: Path, html: str) -> None:
    part = _section(html, "ablation")
    summary = pd.read_parquet(quick_run / "ablation_produced_by.parquet")
    labels = {m.id: m.label for m in MECHANISMS}
    rows = re.findall(r'<tr data-finding="([^"]+)" data-stratum="([^"]+)"(?: data-ruleset="([^"]+)")?>(.*?)</tr>',
                      part, flags=re.S)
    assert len(rows) == len(summary) > 0
    for (finding, stratum, ruleset, body), row in zip(rows, summary.itertuples(), strict=True):
        wanted_ruleset = row.ruleset if isinstance(row.ruleset, str) else None
        assert (finding, stratum, ruleset or None) == (row.finding, row.stratum, wanted_ruleset)
        cell = _text(body.rsplit('<td class="produced">', 1)[1])
        wanted = [labels[m] for m in row.produced_by]
        if wanted:
            assert [c.rsplit(" (", 1)[0] for c in cell.split("; ")] == wanted
        else:
            assert cell == "none of the mechanisms alone"
    # the drivers table: the words in each cell are the dimensions with value 1
    ablation = pd.read_parquet(quick_run / "ablation.parquet")
    drivers = ablation[ablation["finding"] == "divergence_driver"]
    start = part.index('data-finding="divergence_driver"')
    table = part[start:part.index("</table>", start)]
    for variant, cells in re.findall(r'<tr data-variant="([^"]+)">(.*?)</tr>', table, flags=re.S):
        texts = [_text(c) for c in re.findall(r"<td>(.*?)</td>", cells, flags=re.S)]
        for rid, text in zip(sorted(drivers["ruleset"].dropna().unique()), texts, strict=True):
            own = drivers[(drivers["variant"] == variant) & (drivers["ruleset"] == rid)]
            if own["value"].isna().all():
                assert text == "not fitted"
            else:
                assert (text == "none") == (not (own["value"] == 1).any())


def test_a_changed_ablation_table_is_caught(quick_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(quick_run, copy)
    ablation = pd.read_parquet(copy / "ablation.parquet")
    report = render_html(copy)
    ablation.loc[ablation["finding"] == "item_reading_share", "value"] = 0.0123
    ablation.to_parquet(copy / "ablation.parquet")
    problems = mismatches(report, copy)
    assert any("item_reading_share" in p for p in problems)


def test_without_an_ablation_table_there_is_no_part_and_no_link(quick_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(quick_run, copy)
    for name in ("ablation", "ablation_produced_by"):
        frame = pd.read_parquet(copy / f"{name}.parquet")
        frame.iloc[:0].to_parquet(copy / f"{name}.parquet")
    report = render_html(copy)
    assert 'id="ablation"' not in report and 'href="#ablation"' not in report
    summary = _section(report, "summary")
    first = _text(summary[summary.index("<p>"):summary.index("</p>")])
    assert "a simulated panel of 12 practitioners (its results follow from the model's assumptions)" in first
