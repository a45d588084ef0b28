"""The practitioners' scoring web app.

Researchers create studies from a bundled vignette set or their own vignettes file
(uploaded in the page, or ``dsk study create --vignettes FILE``), optionally over
several sites, and hand out one-time links, site by site;
practitioners consent, score their deck one vignette at a time and, in studies
with two rounds, revise after seeing anonymised colleagues' answers. Answers
are exported as the judgements table of :mod:`dsk.schema`.

Examples
--------
>>> import tempfile
>>> from dsk.app import create_app, create_researcher
>>> db = tempfile.mkdtemp() + "/app.sqlite3"
>>> create_researcher(db, "ada", "a long passphrase")
>>> app = create_app(db)
>>> app.url_path_for("login"), app.url_path_for("study_page", study_id=3)
('/login', '/studies/3')
"""

from ._db import normalise_url
from ._ops import create_researcher, export_judgements, open_database, survey_design_of
from ._study import AppError
from ._survey import SurveyError, import_survey, qualtrics_txt, read_survey, write_survey
from ._web import create_app

__all__ = [
    "AppError",
    "SurveyError",
    "create_app",
    "create_researcher",
    "export_judgements",
    "import_survey",
    "normalise_url",
    "open_database",
    "qualtrics_txt",
    "read_survey",
    "survey_design_of",
    "write_survey",
]
