"""Make the illustrative human-study judgements file, ``synthetic-human-study.csv``.

The file is SYNTHETIC. No practitioner wrote any of it: the need levels come from
the simulated panel model (:mod:`dsk.panels.simulate`) and are then relabelled as
``rater_kind = "human"`` and laid out as the scoring app exports a study, so that the
study-analysis notebook and the tests have a small human-format file to work on.
Do not cite its numbers as findings about practitioners. A CSV file has no room for
a comment line, so the file says what it is by its name and by its ``panel_id``,
``synthetic-example-study``; ``README.md`` beside it says the rest.

The study it imitates: the bundled ``core-60`` set dealt into 4 decks of 15
vignettes (:func:`dsk.decks.make_decks`), fielded to 24 practitioners at two sites,
six per deck, one round. Every deck has two social workers, a health visitor, a
teacher and a police officer; a paediatrician takes each of decks 1 and 2 and a
GP each of decks 3 and 4, so those two professions never score the same vignette.

Columns the study did not collect (confidence, risk, salient factors; see
``NOT_COLLECTED``) are left out of the file, as a survey platform's export would
leave them out; the judgements loader fills missing optional columns as empty.

Run ``python -m dsk.data.examples.make_human_example`` or this file directly to
rewrite the file; the same code gives the same bytes.

Examples
--------
>>> table = human_example()
>>> table.shape[0], table["rater_id"].nunique(), table["deck_id"].nunique()
(360, 24, 4)
>>> table.groupby("site")["rater_id"].nunique().to_dict()
{'north': 12, 'south': 12}
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dsk.catalogue import load_catalogue
from dsk.decks import make_decks
from dsk.io import write_table
from dsk.panels import load_professions, simulate_panel
from dsk.panels.profiles import PanelMember, PanelSpec
from dsk.schema import columns, validate
from dsk.sets import load_set

__all__ = ["FILE", "NOT_COLLECTED", "SEED", "human_example", "main"]

#: The file this script writes, beside it.
FILE = Path(__file__).resolve().with_name("synthetic-human-study.csv")
SEED = 2026
SET_ID = "core-60"
DECK_SIZE = 15
N_PRACTITIONERS = 24
STUDY = "synthetic-example-study"
#: Optional judgements columns this study did not collect: absent from the file.
NOT_COLLECTED = ("confidence", "risk", "salient_factors")

# (profession, site) of the practitioner in each of a deck's six seats, for decks 1-4.
_SEATS = (
    (("social_worker", "north"),) * 4,
    (("social_worker", "south"),) * 4,
    (("health_visitor", "north"), ("health_visitor", "north"),
     ("health_visitor", "south"), ("health_visitor", "south")),
    (("teacher", "south"),) * 4,
    (("police", "north"),) * 4,
    (("paediatrician", "north"), ("paediatrician", "north"), ("gp", "south"), ("gp", "south")),
)


def human_example() -> pd.DataFrame:
    """The synthetic study's judgements, in the app's export layout (one row per answer)."""
    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    vignettes = load_set(SET_ID, cat)
    rng = np.random.default_rng(SEED)
    decks = make_decks(list(vignettes["vignette_id"]), DECK_SIZE, N_PRACTITIONERS, random_state=SEED)
    deck_of = decks.groupby("respondent")["deck"].first()
    n_decks = int(deck_of.max())
    seat_count = dict.fromkeys(range(1, n_decks + 1), 0)
    people = []
    for respondent, deck in zip(deck_of.index.tolist(), deck_of.tolist(), strict=True):
        profession, site = _SEATS[seat_count[deck]][deck - 1]
        seat_count[deck] += 1
        years = float(rng.integers(1, 26))
        people.append({"respondent": int(respondent), "profession": profession, "site": site,
                       "years_experience": years})
    staff = pd.DataFrame(people)
    panel = PanelSpec(id=STUDY, seed=SEED, members=[
        PanelMember(profession=p, experience=y, count=1)
        for p, y in zip(staff["profession"], staff["years_experience"], strict=True)])
    staff["sim_id"] = [rid for rid, _, _ in panel.raters()]
    staff["rater_id"] = [f"p{r:02d}" for r in staff["respondent"]]
    everything = simulate_panel(vignettes, panel, random_state=SEED, rounds=1, professions=profs, catalogue=cat)
    seen = decks.merge(staff, on="respondent")
    seen["deck_id"] = [f"deck-{d}" for d in seen["deck"]]
    rows = seen.merge(everything.drop(columns=["profession"]).rename(columns={"rater_id": "sim_id"}),
                      on=["sim_id", "vignette_id"], how="left", validate="one_to_one")
    rows["rater_kind"] = "human"
    rows["panel_id"] = STUDY
    # answer times as a person's: a minute or two each, quicker later in the deck
    rows["seconds"] = np.round(rng.lognormal(np.log(110.0), 0.35, len(rows)) * (1.1 - 0.01 * rows["position"]), 0)
    rows = rows.sort_values(["round", "respondent", "position"], kind="stable").reset_index(drop=True)
    out = rows[[c.name for c in columns("judgements") if c.name not in NOT_COLLECTED]]
    return validate(out, "judgements", source="synthetic human example")


def main(argv: list[str] | None = None) -> int:
    """Write the file (to ``FILE``, or to the path given as the one argument)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else FILE
    write_table(human_example(), path)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
