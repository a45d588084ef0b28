"""Decks for vignette studies: who sees which vignettes, in which order.

A deck is the subset of a vignette set that one respondent scores. :func:`make_decks`
deals the vignettes into decks so that every vignette is shown about equally often, and
orders each deck by a randomised Williams design, so that every vignette sits at every
position (and follows every other one) about equally often. The construction and its
guarantees are described in ``docs/methods.md`` (section "D-efficient designs and
decks"); the app (:mod:`dsk.app`) and ``dsk vignettes decks`` deal their decks here.

Examples
--------
>>> from dsk.decks import make_decks
>>> decks = make_decks(["a", "b", "c", "d"], 2, 4, random_state=1)
>>> decks.groupby("respondent")["vignette_id"].nunique().tolist()
[2, 2, 2, 2]
>>> decks["vignette_id"].value_counts().sort_index().tolist()
[2, 2, 2, 2]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsk._doe import RandomState, generator_of, positive_int

__all__ = ["make_decks"]


def _williams_rows(k: int) -> np.ndarray:
    """Williams design of order ``k``: position-balanced, first-order carryover balanced.

    ``k`` rows for even ``k``; ``2k`` rows (the square and its mirror) for odd ``k``. Each
    block of ``k`` consecutive rows is a Latin square.
    """
    first = [0]
    lo, hi = 1, k - 1
    take_lo = True
    while len(first) < k:
        if take_lo:
            first.append(lo)
            lo += 1
        else:
            first.append(hi)
            hi -= 1
        take_lo = not take_lo
    base = np.asarray(first, dtype=np.int64)
    square = (base[None, :] + np.arange(k)[:, None]) % k
    if k % 2 == 1:
        square = np.vstack([square, square[:, ::-1]])
    return square


def make_decks(
    vignette_ids: Sequence[str],
    deck_size: int,
    n_respondents: int,
    *,
    random_state: RandomState,
) -> pd.DataFrame:
    """Assign each respondent a deck of distinct vignettes in a balanced, randomised order.

    Construction: the vignettes are shuffled once into a cycle; deck ``d`` (1-based) is
    the ``deck_size`` consecutive vignettes starting at offset ``(d - 1) * deck_size``
    (wrapping round), so when ``deck_size`` divides the number of vignettes the decks
    partition the set, the classic factorial-survey layout. Respondents are dealt decks
    in turn (respondent 1 gets deck 1, respondent 2 deck 2, ...). Within a deck, the
    orders come from a Williams design, relabelled by a random permutation of the deck
    and with its rows in random order, used cyclically.

    Guarantees
    ----------
    * Each respondent sees ``deck_size`` distinct vignettes.
    * Every vignette is shown ``floor(R * k / V)`` or ``ceil(R * k / V)`` times
      (``R`` respondents, ``k`` = deck_size, ``V`` vignettes), and the same holds for
      every prefix of respondents 1..r, so balance survives drop-out of late respondents.
    * Position balance: among the ``m`` respondents given one deck, each of its vignettes
      appears at each position ``floor(m / k)`` or ``ceil(m / k)`` times; when ``m`` is a
      multiple of ``k`` (even ``k``) or ``2k`` (odd ``k``) each vignette also directly
      follows every other one equally often. Across decks that share a vignette
      (``k`` not dividing ``V``) the counts add up, so they are balanced only roughly.
    * Each respondent's order, taken alone, is a uniformly random permutation of the deck.

    Parameters
    ----------
    vignette_ids
        Distinct vignette identifiers.
    deck_size
        Vignettes per respondent, at most ``len(vignette_ids)``.
    n_respondents
        Number of respondents.
    random_state
        Seed for ``numpy.random.default_rng`` (or a Generator); the same int gives an
        identical table.

    Returns
    -------
    pandas.DataFrame
        One row per (respondent, position), sorted by both, with columns ``respondent``
        (int, 1-based), ``deck`` (int, 1-based; respondents with the same deck see the
        same vignettes), ``position`` (int, 1-based) and ``vignette_id``.

    Raises
    ------
    ValueError
        If ids are empty or duplicated, or a size is not positive, or ``deck_size``
        exceeds the number of vignettes.

    Examples
    --------
    >>> decks = make_decks([f"v{i:02d}" for i in range(8)], 4, 6, random_state=3)
    >>> decks.shape
    (24, 4)
    >>> sorted(decks["vignette_id"].value_counts().unique().tolist())
    [3]
    >>> int(decks.groupby("respondent")["vignette_id"].nunique().min())
    4
    """
    ids = list(vignette_ids)
    if isinstance(vignette_ids, str):
        raise TypeError("vignette_ids: expected a sequence of ids, got a single string")
    if not ids:
        raise ValueError("vignette_ids: expected at least one vignette id, got none")
    dups = sorted(str(v) for v, c in Counter(ids).items() if c > 1)
    if dups:
        raise ValueError(f"vignette_ids: expected distinct ids, got duplicates {dups}")
    k = positive_int(deck_size, "deck_size")
    n_resp = positive_int(n_respondents, "n_respondents")
    n_vig = len(ids)
    if k > n_vig:
        raise ValueError(
            f"deck_size: expected at most the number of vignettes ({n_vig}), got {k}"
        )
    rng = generator_of(random_state)

    cycle = rng.permutation(n_vig)
    n_decks = n_vig // np.gcd(n_vig, k)
    respondent = np.arange(n_resp)
    deck = respondent % n_decks
    slot = respondent // n_decks  # how many earlier respondents had the same deck

    williams = _williams_rows(k)
    n_orders = williams.shape[0]
    members = np.empty((n_decks, k), dtype=np.int64)
    orders = np.empty((n_decks, n_orders, k), dtype=np.int64)
    for d in range(n_decks):
        members[d] = cycle[(d * k + np.arange(k)) % n_vig]
        relabel = rng.permutation(k)
        # Shuffle rows within each Latin-square block so every block stays complete.
        row_order = np.concatenate(
            [b * k + rng.permutation(k) for b in range(n_orders // k)]
        )
        orders[d] = relabel[williams[row_order]]

    seq = orders[deck, slot % n_orders]  # (n_resp, k) positions within each deck
    shown = np.take_along_axis(members[deck], seq, axis=1)
    id_array = np.asarray(ids, dtype=object)
    return pd.DataFrame(
        {
            "respondent": np.repeat(respondent + 1, k).astype(np.int64),
            "deck": np.repeat(deck + 1, k).astype(np.int64),
            "position": np.tile(np.arange(1, k + 1), n_resp).astype(np.int64),
            "vignette_id": id_array[shown.ravel()],
        }
    )
