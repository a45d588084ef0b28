"""Survey platforms: a study's decks as a survey, and responses back into judgements.

The **survey design** (``dsk study survey -o survey.csv``) has one row per question:
``study_id``, ``deck``, ``position``, ``vignette_id``, ``question_id``, ``field``
(``narrative``, ``need_level``, ``confidence``, ``risk``, ``salient_factors``,
``salient_other``, ``rationale``, ``lead_agency``), ``type``, ``text`` and ``choices``
(``code=value|...``, codes 1..n in order, as survey platforms number choices).
Question ids are ``d<deck>_<vignette ordinal>_<short field>``, unique across decks.
Each deck is one block; a respondent answers one block.

The same design renders as a **Qualtrics Advanced Format TXT** file (``.txt``), which
Qualtrics imports through *Tools > Import/Export > Import Survey*: one block per
deck, a descriptive-text question with the narrative, then the answer questions,
with ``[[ID:...]]`` set to the question ids above so the export's columns match.

**Responses** (a CSV export, one row per respondent) need a respondent column
(``respondent_id``, ``ResponseId`` or ``ResponseID``), optionally ``profession``,
``experience_years`` and ``site``, and columns named by question id. Choice answers may be
the value (``social_care``), its label, or its numeric code. Qualtrics' two extra
header rows (question text, ``{"ImportId": ...}``) are recognised and skipped.
Optional ``<question prefix>_seconds`` columns give time on task. Numbers are written in
the ASCII digits 0-9 with an optional decimal part (``4``, ``4.0``, ``70%``); a sign, an
exponent or other scripts' digits are refused with the line and column.

**CSV files for spreadsheets.** Every CSV written for people to open (the survey design,
the app's judgements CSV) goes through :func:`spreadsheet_csv`, which neutralises
formulas as the OWASP CSV-injection guidance says: a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after any single quotes) gets
one more single quote in front, so a spreadsheet shows it as text and never runs it.
Numeric columns are written as numbers (``-3`` stays a number). ``excel=True`` adds a
UTF-8 byte-order mark so Excel reads accents correctly. :func:`restore_cell` undoes the
prefix exactly; :func:`read_survey` applies it. The judgements CSV is for spreadsheets,
not for analysis: :func:`dsk.io.read_table` reads it with the quote left on the few
neutralised text cells (numbers are unchanged); the Parquet or JSON Lines export keeps
the true text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.io import _jsonable
from dsk.schema import validate

from ._study import JUDGEMENT_COLUMNS

DESIGN_COLUMNS = ("study_id", "deck", "position", "vignette_id", "question_id", "field", "type",
                  "text", "choices")
SHORT = {"narrative": "text", "need_level": "level", "confidence": "conf", "risk": "risk",
         "salient_factors": "factors", "salient_other": "other", "rationale": "why",
         "lead_agency": "agency"}
FIELDS = {v: k for k, v in SHORT.items()}


#: A cell that a spreadsheet would read as a formula (after any single quotes already there).
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
#: UTF-8 byte-order mark, which tells Excel the file is UTF-8.
BOM = "\ufeff"


def spreadsheet_cell(text: str) -> str:
    r"""A text cell made safe to open in a spreadsheet (OWASP CSV injection).

    A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, or
    with single quotes followed by one of them, gets one more single quote in front;
    other text is unchanged. :func:`restore_cell` is its exact inverse.

    Examples
    --------
    >>> spreadsheet_cell('=HYPERLINK("http://x","y")')
    '\'=HYPERLINK("http://x","y")'
    >>> spreadsheet_cell("@SUM(A1)"), spreadsheet_cell("'=1"), spreadsheet_cell("it's fine")
    ("'@SUM(A1)", "''=1", "it's fine")
    """
    return "'" + text if _FORMULA.match(text) else text


def restore_cell(text: str) -> str:
    """The text :func:`spreadsheet_cell` was given.

    Examples
    --------
    >>> [restore_cell(spreadsheet_cell(t)) for t in ("-3 days", "'+x", "'plain", "")]
    ['-3 days', "'+x", "'plain", '']
    """
    return text[1:] if text.startswith("'") and _FORMULA.match(text[1:]) else text


def spreadsheet_csv(frame: pd.DataFrame, *, excel: bool = False) -> str:
    """``frame`` as CSV text for people to open in a spreadsheet.

    Cells are formatted as :func:`dsk.io.write_table` formats them (lists as JSON,
    numbers alike), every text cell goes through :func:`spreadsheet_cell`, and columns of
    a numeric or boolean type are left as they are, so negative numbers stay numbers.
    Lines end with CR LF (RFC 4180), so that a carriage return inside a cell is quoted.
    ``excel`` starts the text with a UTF-8 byte-order mark.

    Examples
    --------
    >>> frame = pd.DataFrame({"why": ["=1+1", "ok"], "delta": [-3, 2]})
    >>> spreadsheet_csv(frame).splitlines()
    ['why,delta', "'=1+1,-3", 'ok,2']
    >>> spreadsheet_csv(frame, excel=True).startswith(BOM + "why")
    True
    """
    out = frame.reset_index(drop=True).copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            continue
        values = list(out[col])
        if any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in values):
            values = [json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"))
                      for v in values]
        out[col] = pd.Series([spreadsheet_cell(v) if isinstance(v, str) else v
                              for v in values], dtype=object)
    return (BOM if excel else "") + out.to_csv(index=False, lineterminator="\r\n")


class SurveyError(ValueError):
    """A survey or response file that cannot be used; names the file, line and column."""


def survey_design(study_id: int, decks: pd.DataFrame, vignettes: pd.DataFrame,
                  catalogue: Catalogue) -> pd.DataFrame:
    """Build the survey design from decks (``deck``, ``position``, ``vignette_id``, first
    respondent of each deck) and the study's vignettes (``vignette_id``, ``ordinal``,
    ``narrative``)."""
    cat = catalogue
    narrative = dict(zip(vignettes["vignette_id"], vignettes["narrative"], strict=True))
    ordinal = dict(zip(vignettes["vignette_id"], vignettes["ordinal"], strict=True))
    level_choices = "|".join(f"{k}={k}" for k in cat.need_levels)
    level_text = "Level of need: " + "; ".join(f"{k} {label}" for k, (_, label)
                                               in cat.need_levels.items())
    factor_choices = "|".join(f"{i}={f.id}" for i, f in enumerate(cat.factors, start=1))
    agency_choices = "|".join(f"{i}={a}" for i, a in enumerate(cat.agencies, start=1))
    rows: list[dict[str, Any]] = []
    for row in decks.sort_values(["deck", "position"]).to_dict("records"):
        vid = str(row["vignette_id"])
        prefix = f"d{int(row['deck'])}_{int(ordinal[vid]) + 1:02d}"
        questions = [
            ("narrative", "text", narrative[vid], ""),
            ("need_level", "single", level_text, level_choices),
            ("confidence", "number 0-100", "How confident are you in this level? (0-100 %)", ""),
            ("risk", "number 0-10", "Risk of significant harm (0 none - 10 highest)", ""),
            ("salient_factors", "multiple", "Which factors mattered most? (tick any)",
             factor_choices),
            ("salient_other", "text entry", "Other factors (optional)", ""),
            ("rationale", "text entry", "Why this level? (a sentence or two)", ""),
            ("lead_agency", "single", "Which agency should lead?", agency_choices),
        ]
        for field_name, kind, text, choices in questions:
            rows.append({"study_id": study_id, "deck": int(row["deck"]),
                         "position": int(row["position"]), "vignette_id": vid,
                         "question_id": f"{prefix}_{SHORT[field_name]}", "field": field_name,
                         "type": kind, "text": text, "choices": choices})
    return pd.DataFrame(rows, columns=list(DESIGN_COLUMNS))


def qualtrics_txt(design: pd.DataFrame, catalogue: Catalogue) -> str:
    """The design as a Qualtrics Advanced Format TXT survey."""
    cat = catalogue
    labels = {f.id: f.label for f in cat.factors}
    labels.update({a: label[:1].upper() + label[1:] for a, label in cat.agencies.items()})
    labels.update({str(k): f"{k} {label}" for k, (_, label) in cat.need_levels.items()})
    lines = ["[[AdvancedFormat]]", ""]
    for deck, block in design.groupby("deck", sort=True):
        lines += [f"[[Block:Deck {deck}]]", ""]
        for q in block.to_dict("records"):
            kind = {"text": "DB", "single": "MC:SingleAnswer", "multiple": "MC:MultipleAnswer",
                    "text entry": "TE:Essay" if q["field"] == "rationale" else "TE:SingleLine"
                    }.get(str(q["type"]), "TE:SingleLine")
            if q["field"] == "narrative" and int(q["position"]) > 1:
                lines += ["[[PageBreak]]", ""]
            lines += [f"[[Question:{kind}]]", f"[[ID:{q['question_id']}]]",
                      str(q["text"]).replace("\n", "<br>")]
            if q["choices"]:
                lines.append("[[Choices]]")
                for pair in str(q["choices"]).split("|"):
                    lines.append(labels.get(pair.split("=", 1)[1], pair.split("=", 1)[1]))
            lines.append("")
    return "\n".join(lines)


def write_survey(design: pd.DataFrame, path: str | Path, catalogue: Catalogue, *,
                 excel: bool = False) -> Path:
    """``.csv``: the generic survey design (for spreadsheets, see :func:`spreadsheet_csv`;
    ``excel`` adds a byte-order mark); ``.txt``: Qualtrics Advanced Format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        path.write_text(spreadsheet_csv(design, excel=excel), encoding="utf-8", newline="")
    elif path.suffix.lower() == ".txt":
        path.write_text(qualtrics_txt(design, catalogue), encoding="utf-8")
    else:
        raise SurveyError(f"{path}: unknown survey file type {path.suffix!r}; use .csv or .txt")
    return path


def read_survey(path: str | Path) -> pd.DataFrame:
    """Read a survey design CSV written by :func:`write_survey` (with or without a
    byte-order mark; the formula guard of :func:`spreadsheet_cell` is undone)."""
    try:
        design = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SurveyError(f"{path}: not a readable survey CSV: {exc}") from exc
    missing = [c for c in DESIGN_COLUMNS if c not in design.columns]
    if missing:
        raise SurveyError(f"{path}: column {missing[0]!r} missing; expected "
                          f"{', '.join(DESIGN_COLUMNS)}")
    design = design.map(restore_cell)
    for name in ("deck", "position"):
        numbers = pd.to_numeric(design[name], errors="coerce")
        bad = (numbers.isna() | (numbers % 1 != 0)).to_numpy()
        if bad.any():
            line = int(bad.argmax()) + 2
            raise SurveyError(f"{path}, line {line}, column {name!r}: expected a whole number, "
                              f"got {design[name].iloc[line - 2]!r}")
        design[name] = numbers.astype("int64")
    return design


class _NotWhole(ValueError):
    """A numeric answer code with a fractional part (``2.5``)."""


#: A number in a response file: ASCII digits with an optional decimal part (``4``,
#: ``4.0``, ``0.5``). ``float()`` would also take ``+4``, ``1e3``, ``1_0`` and other
#: scripts' digits such as ``٤``.
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")


def _decimal(text: str) -> float:
    r"""``text`` as a number if it is ASCII digits with an optional decimal part; else
    :class:`ValueError`.

    Examples
    --------
    >>> _decimal("4.0"), _decimal("70")
    (4.0, 70.0)
    >>> _decimal("\u0664")
    Traceback (most recent call last):
        ...
    ValueError: not a number in the digits 0-9: '\u0664'
    """
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"not a number in the digits 0-9: {ascii(text[:40])}")
    return float(text)


def _whole(value: str) -> str:
    """``4.0`` -> ``4`` (spreadsheets rewrite codes so); ``2.5`` raises :class:`_NotWhole`;
    anything that is not a number in the ASCII digits is returned unchanged."""
    try:
        number = _decimal(value)
    except ValueError:
        return value
    if number % 1:
        raise _NotWhole(value)
    return str(int(number))


def _choice(value: str, choices: str, labels: dict[str, str]) -> str | None:
    pairs = dict(pair.split("=", 1) for pair in choices.split("|") if "=" in pair)
    value = _whole(value)
    if value in pairs.values():
        return value
    if value in pairs:
        return pairs[value]
    by_label = {labels.get(v, v).casefold(): v for v in pairs.values()}
    return by_label.get(value.casefold())


def import_survey(responses: str | Path | pd.DataFrame, design: pd.DataFrame, *,
                  panel_id: str | None = None, round: int = 1,  # noqa: A002 - the table's name
                  catalogue: Catalogue) -> pd.DataFrame:
    """Survey responses (one row per respondent) as a judgements table.

    Only questions a respondent answered a need level for become judgements. ``deck_id``
    and ``position`` come from the design (the question's deck and its place in it),
    ``years_experience`` from an ``experience_years`` (or ``years_experience``) column and
    ``site`` from a ``site`` (or ``Site``) column, when the file has them. Numeric answer codes may be
    written ``4.0``; ``2.5`` is refused with its line and column.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> cat = load_catalogue()
    >>> decks = pd.DataFrame({"deck": [1, 1], "position": [1, 2], "vignette_id": ["a", "b"]})
    >>> vignettes = pd.DataFrame({"vignette_id": ["a", "b"], "ordinal": [0, 1],
    ...                           "narrative": ["Case a.", "Case b."]})
    >>> design = survey_design(7, decks, vignettes, cat)
    >>> answers = pd.DataFrame({"respondent_id": ["r1"], "site": ["Leeds"],
    ...                         "experience_years": ["4.0"], "d1_02_level": ["3.0"]})
    >>> table = import_survey(answers, design, catalogue=cat)
    >>> table[["vignette_id", "need_level", "deck_id", "position", "site",
    ...        "years_experience"]].to_dict("records")
    [{'vignette_id': 'b', 'need_level': 3, 'deck_id': 'deck-1', 'position': 2, 'site': 'Leeds', 'years_experience': 4.0}]
    >>> answers["d1_02_level"] = "2.5"
    >>> import_survey(answers, design, catalogue=cat)
    Traceback (most recent call last):
        ...
    dsk.app._survey.SurveyError: responses, line 2, column 'd1_02_level': expected a need level from 1 to 4 (a whole number), got '2.5'
    """
    cat = catalogue
    source = str(responses) if not isinstance(responses, pd.DataFrame) else "responses"
    if isinstance(responses, pd.DataFrame):
        frame = responses.astype(str)
    else:
        try:
            frame = pd.read_csv(responses, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SurveyError(f"{source}: not a readable CSV: {exc}") from exc
    first_line = 2
    # Qualtrics: row 2 is the question text, row 3 the ImportId JSON.
    if len(frame) >= 2 and any(str(v).startswith('{"ImportId"') for v in frame.iloc[1]):
        frame, first_line = frame.iloc[2:], 4
    elif len(frame) >= 1 and any(str(v).startswith('{"ImportId"') for v in frame.iloc[0]):
        frame, first_line = frame.iloc[1:], 3
    who = next((c for c in ("respondent_id", "ResponseId", "ResponseID") if c in frame.columns),
               None)
    if who is None:
        raise SurveyError(f"{source}: column 'respondent_id' (or 'ResponseId') missing")
    labels = {f.id: f.label for f in cat.factors}
    labels.update({a: label[:1].upper() + label[1:] for a, label in cat.agencies.items()})
    labels.update({str(k): f"{k} {label}" for k, (_, label) in cat.need_levels.items()})
    questions = design.set_index("question_id")
    prefixes = list(dict.fromkeys(q.rsplit("_", 1)[0] for q in questions.index))  # survey order
    study = str(design["study_id"].iloc[0]) if len(design) else "survey"
    site_column = next((c for c in frame.columns if str(c).strip().casefold() == "site"), None)
    records = []
    for offset, (_, row) in enumerate(frame.iterrows()):
        line = first_line + offset

        def cell(column: str, row: pd.Series = row) -> str:
            value = row.get(column, "")
            return "" if value is None or str(value) in ("nan", "<NA>") else str(value).strip()

        def fail(column: str, problem: str, line: int = line) -> SurveyError:
            return SurveyError(f"{source}, line {line}, column {column!r}: {problem}")

        experience = None
        years_column = next((c for c in ("experience_years", "years_experience")
                             if c in frame.columns), None)
        raw_years = cell(years_column) if years_column else ""
        if raw_years:
            try:
                experience = _decimal(raw_years)
            except ValueError:
                raise fail(str(years_column), f"expected a number of years, got {raw_years!r}"
                           ) from None
            if not 0 <= experience <= 80:
                raise fail(str(years_column), f"expected 0 to 80 years, got {raw_years!r}")
        for prefix in prefixes:
            level_q = f"{prefix}_level"
            raw_level = cell(level_q)
            if not raw_level:
                continue
            try:
                level = _choice(raw_level, str(questions.loc[level_q, "choices"]), labels)
            except _NotWhole:
                raise fail(level_q, f"expected a need level from 1 to 4 (a whole number), "
                                    f"got {raw_level!r}") from None
            if level is None:
                raise fail(level_q, f"expected a need level from 1 to 4, got {raw_level!r}")
            values: dict[str, Any] = {}
            for short, lo, hi, scale in (("conf", 0, 100, 100.0), ("risk", 0, 10, 1.0),
                                         ("seconds", 0, 10**7, 1.0)):
                raw = cell(f"{prefix}_{short}")
                if not raw:
                    values[short] = None
                    continue
                try:
                    number = _decimal(raw.rstrip("%").strip())
                except ValueError:
                    raise fail(f"{prefix}_{short}", f"expected a number, got {raw!r}") from None
                if not lo <= number <= hi:
                    raise fail(f"{prefix}_{short}", f"expected {lo} to {hi}, got {raw!r}")
                values[short] = number / scale
            factors = []
            raw_factors = cell(f"{prefix}_factors")
            for part in raw_factors.replace(";", ",").split(","):
                if part.strip():
                    try:
                        found = _choice(part.strip(),
                                        str(questions.loc[f"{prefix}_factors", "choices"]), labels)
                    except _NotWhole:
                        raise fail(f"{prefix}_factors", "expected factor codes as whole numbers, "
                                                        f"got {part.strip()!r}") from None
                    if found is None:
                        raise fail(f"{prefix}_factors", f"unknown factor {part.strip()!r}")
                    factors.append(found)
            agency = None
            raw_agency = cell(f"{prefix}_agency")
            if raw_agency:
                try:
                    agency = _choice(raw_agency,
                                     str(questions.loc[f"{prefix}_agency", "choices"]), labels)
                except _NotWhole:
                    raise fail(f"{prefix}_agency", "expected an agency code as a whole number, "
                                                   f"got {raw_agency!r}") from None
                if agency is None:
                    raise fail(f"{prefix}_agency", f"unknown agency {raw_agency!r}")
            records.append({
                "vignette_id": str(questions.loc[level_q, "vignette_id"]),
                "rater_id": f"survey-{cell(who)}", "rater_kind": "human",
                "profession": cell("profession") or None,
                "panel_id": panel_id or f"study-{study}", "round": int(round),
                "need_level": int(level), "confidence": values["conf"], "risk": values["risk"],
                "salient_factors": factors, "rationale": cell(f"{prefix}_why") or None,
                "lead_agency": agency, "seconds": values["seconds"],
                "deck_id": f"deck-{int(str(questions.loc[level_q, 'deck']))}",
                "position": int(str(questions.loc[level_q, "position"])),
                "site": (cell(site_column) or None) if site_column else None,
                "years_experience": experience,
                "salient_other": cell(f"{prefix}_other"),
            })
    out = pd.DataFrame.from_records(
        records, columns=[*JUDGEMENT_COLUMNS, "salient_other"])
    for name in ("round", "need_level", "position"):
        out[name] = out[name].astype("int64")
    for name in ("confidence", "risk", "seconds"):
        out[name] = pd.to_numeric(out[name]).astype(float)
    out["years_experience"] = out["years_experience"].astype(float)
    out["salient_factors"] = pd.Series([list(v) for v in out["salient_factors"]], dtype=object)
    return validate(out, "judgements", source=source)

