"""The experiment report: one self-contained HTML file from a run folder.

:func:`render_report` reads the tables, manifest and learned checklists that
:func:`dsk.experiment.run_experiment` wrote and renders ``report.html``: a plain-words
summary whose every number names the table row it comes from, agreement by complexity
band, the checklists as one more rater, SHAP for checklist and panel side by side, the
divergence model and quadrant map, a teaching-case gallery, the learned checklists and a
methods appendix with the panel's source (a simulated panel and its model's parameters, a
judgements file, or a study in the scoring app), the vignettes' design and decks, and the
run's manifest. On practitioners' own judgements it names the optional columns they did not
record (confidence, rationale and so on) and leaves out what would use them.

The file has no external resources (plots are inline SVG drawn with matplotlib's Agg
backend, styles are inline), so it opens offline and prints cleanly; rendering the same
run folder twice gives the same bytes.

Examples
--------
>>> from dsk.report import render_report
>>> render_report("runs/quickstart")  # doctest: +SKIP
PosixPath('runs/quickstart/report.html')
"""

from __future__ import annotations

from pathlib import Path

from dsk.report._load import RunFolderError, load_run
from dsk.report._numbers import FORMATS, format_value

__all__ = ["FORMATS", "RunFolderError", "format_value", "render_html", "render_report"]


def render_html(run_dir: str | Path) -> str:
    """The report of a run folder as an HTML string (see :func:`render_report`)."""
    from dsk.report._render import render

    return render(load_run(run_dir))


def render_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Render ``report.html`` for a run folder.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by :func:`dsk.experiment.run_experiment` (``dsk run``).
    output : str or Path, optional
        Where to write the report (default: ``run_dir/report.html``).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    RunFolderError
        When the folder is missing or holds none of the run's tables.
    """
    html = render_html(run_dir)
    path = Path(output) if output is not None else Path(run_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8", newline="\n")
    return path
