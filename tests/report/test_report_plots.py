"""The report's plots draw what the stats table holds, including awkward intervals."""

from __future__ import annotations

import re

import pandas as pd

from dsk.report import _plots as plots


def test_band_plot_draws_an_interval_that_excludes_its_estimate() -> None:
    """With a sparse sample a percentile interval need not contain its estimate (here kappa
    -0.105 with interval -2.38 to -0.21). The plot draws the interval where it is instead of
    failing on a negative error bar."""
    alpha = pd.DataFrame({"series": ["round 1"] * 3, "band": ["low", "medium", "high"],
                          "estimate": [0.6, 0.4, -0.105], "ci_low": [0.5, 0.2, -2.38],
                          "ci_high": [0.7, 0.6, -0.21]})
    exact = pd.DataFrame({"series": ["threshold-of-need"] * 3, "band": ["low", "medium", "high"],
                          "estimate": [0.8, 0.7, 0.5], "ci_low": [float("nan")] * 3,
                          "ci_high": [float("nan")] * 3})
    svg = plots.agreement_by_band(alpha, exact)
    assert svg is not None
    text = str(svg.markup)
    assert text.startswith("<svg") and "<title" in text
    # the y axis reaches the interval's low end, below -2
    ticks = [float(t.replace("\u2212", "-")) for t in re.findall(r">(\u2212?\d+(?:\.\d+)?)<", text)]
    assert min(ticks, default=0.0) <= -2.0
