"""The evidence base: load, validate and summarise ``data/`` (studies, effects, references).

The sheets hold numbers exactly as the sources printed them, each with its provenance (source,
grade, locator, verbatim passage)::

    from ketameta.evidence import load_evidence, data_gaps
    ev = load_evidence("data/studies.csv", "data/effects.csv", "data/references.bib")
    ev.studies    # DataFrame indexed by study_id (numbers as float, empty -> NaN)
    ev.effects    # DataFrame with `time_days` and `line` (1-based CSV line) added
    ev.bib        # pybtex BibliographyData
    ev.warnings   # suspicious but legal values, each naming file, line and column

Every problem found is collected and raised together as :class:`ketameta.errors.InputErrors`;
each :class:`~ketameta.errors.InputError` names the file, the 1-based line (the header is line 1),
the column and what was expected. Input files are never modified.

Layout: :mod:`.schema` (the JSON schemas shipped in ``schemas/``: columns, types, vocabularies,
ranges, what each form needs), :mod:`.sheets` (reading CSV and BibTeX), :mod:`.checks` (rules
across cells, rows and files), :mod:`.provenance` (verbatim numbers, keys, times),
:mod:`.gaps` (the data-gaps table), :mod:`.load` (:func:`load_evidence`). The column dictionary
and the provenance policy are documented in ``data/README.md``.
"""

from .checks import FORMS, GRADES, KNOWN_SCALES, MODERATOR_OUTCOMES, RESULT_NUMERIC, FormSpec
from .gaps import data_gaps
from .load import Evidence, load_evidence
from .provenance import TIME_UNIT_DAYS, number_in_passage, time_in_days
from .schema import columns, numeric_columns, schema_path, vocabulary
from .sheets import load_bib, read_sheet

STUDY_COLUMNS = columns("studies")
EFFECT_COLUMNS = columns("effects")
STUDY_NUMERIC = numeric_columns("studies")
EFFECT_NUMERIC = numeric_columns("effects")
VOCABULARY = {"studies": vocabulary("studies"), "effects": vocabulary("effects")}

__all__ = [
    "Evidence", "load_evidence", "read_sheet", "load_bib", "data_gaps", "number_in_passage",
    "time_in_days", "schema_path", "STUDY_COLUMNS", "EFFECT_COLUMNS", "STUDY_NUMERIC",
    "EFFECT_NUMERIC", "VOCABULARY", "FORMS", "FormSpec", "GRADES", "KNOWN_SCALES",
    "MODERATOR_OUTCOMES", "RESULT_NUMERIC", "TIME_UNIT_DAYS",
]
