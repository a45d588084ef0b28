"""dsk: rules versus judgement in children's services.

Synthetic case vignettes go through a procedural rule engine (the
checklist) and through panels of practitioners; dsk compares their
agreement, their explanations and their failure points.

The public surface is re-exported here; everything else is private.

Examples
--------
Six vignettes stratified by complexity band, on the bundled catalogue:

>>> import dsk
>>> cat = dsk.load_catalogue()
>>> vignettes = dsk.generate("stratified", 6, 1, cat, narratives=False)
>>> vignettes[["complexity_band", "n_concerns"]].to_numpy().tolist()
[['low', 2], ['low', 1], ['medium', 2], ['medium', 3], ['high', 7], ['high', 5]]
"""

from dsk.catalogue import Catalogue, CatalogueError, load_catalogue
from dsk.complexity import complexity_of_frame, complexity_scores
from dsk.decks import make_decks
from dsk.design import (
    d_efficient_vignettes,
    generate,
    random_vignettes,
    stratified_vignettes,
)
from dsk.io import TableFileError, read_table, read_vignettes, write_table
from dsk.narrative import render_narrative
from dsk.schema import SchemaError, validate

__version__ = "0.1.0"

__all__ = [
    "Catalogue",
    "CatalogueError",
    "SchemaError",
    "TableFileError",
    "__version__",
    "complexity_of_frame",
    "complexity_scores",
    "d_efficient_vignettes",
    "generate",
    "load_catalogue",
    "make_decks",
    "random_vignettes",
    "read_table",
    "read_vignettes",
    "render_narrative",
    "stratified_vignettes",
    "validate",
    "write_table",
]
