"""The panel's consensus level: one definition, used by every analysis and the report.

"The panel's level" for a vignette is the *lower median* of its raters' need
levels: the lowest level at which the cumulative share of ratings reaches one
half. On an even split between two levels it is the lower one, never a half
level, so it is always a level that some rater chose (a mean of two ordinal
levels has no meaning on the decision scale). Agreement against the panel
median, the failures table's ``panel_median`` and divergence, the learned
checklists' training target and fidelity, the report and the notebooks all use
it; docs/methods.md, "Consensus level", gives the reasoning.

Examples
--------
>>> import pandas as pd
>>> from dsk.analysis import median_level
>>> ratings = pd.DataFrame({"vignette_id": ["v1"] * 4 + ["v2"] * 3,
...                         "need_level": [2, 2, 3, 3, 1, 4, 4]})
>>> median_level(ratings).to_dict()
{'v1': 2, 'v2': 4}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsk.analysis import _kernels as K
from dsk.schema import NEED_LEVELS

__all__ = ["median_level"]


def median_level(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rating: str = "need_level",
    *,
    categories: Sequence[int] = NEED_LEVELS,
) -> pd.Series:
    """The consensus level of each unit's ratings: the lower median (see the module).

    Parameters
    ----------
    data : DataFrame
        Long data, one row per rating (e.g. one round of a panel's judgements;
        filter out the rules' rows first). Missing ratings are left out.
    unit, rating : str
        Column names.
    categories : sequence of int
        The rating scale, in order (need levels 1-4).

    Returns
    -------
    Series
        Indexed by unit (sorted), named ``panel_median``: the lower median level.

    Raises
    ------
    ValueError
        When a column is missing or a rating is not one of ``categories``.

    Examples
    --------
    >>> import pandas as pd
    >>> split = pd.DataFrame({"vignette_id": "v", "need_level": [3] * 6 + [4] * 6})
    >>> even = pd.DataFrame({"vignette_id": "w", "need_level": [1, 2, 3, 4] * 3})
    >>> median_level(pd.concat([split, even])).tolist()
    [3, 2]
    """
    for column in (unit, rating):
        if column not in data.columns:
            raise ValueError(f"column {column!r} missing; the columns are "
                             f"{', '.join(map(str, data.columns))}")
    rows = data.loc[data[rating].notna(), [unit, rating]]
    cats = np.asarray(list(categories), dtype=np.int64)
    values = rows[rating].to_numpy()
    outside = ~np.isin(values, cats)
    if outside.any():
        raise ValueError(f"column {rating!r}: rating {values[outside][0]!r} is not one of "
                         f"{', '.join(map(str, cats))}")
    codes, units = pd.factorize(rows[unit], sort=True)
    counts = np.zeros((len(units), len(cats)))
    np.add.at(counts, (codes, np.searchsorted(cats, values.astype(np.int64))), 1.0)
    return pd.Series(cats[K.median_category(counts)], index=pd.Index(units, name=unit),
                     name="panel_median")
