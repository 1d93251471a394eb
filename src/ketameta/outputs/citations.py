"""Citations from BibTeX: author--year labels and formatted references (via pybtex).

:class:`Citations` wraps one bibliography (``data/references.bib``) and gives

* :meth:`Citations.label` -- the author--year label used in table rows and figure labels
  ("Berman 2000", "Murrough & Iosifescu 2013", "Luckenbaugh et al. 2014"), made unique across
  the bibliography with a/b suffixes ("Mathai et al. 2020a");
* :meth:`Citations.entry` -- one reference formatted by a pybtex style (``plain`` by default)
  and rendered by a pybtex backend for text, Markdown, HTML or LaTeX;
* :meth:`Citations.reference_list` -- the formatted references for a set of keys, deduplicated
  and sorted by label;
* :meth:`Citations.write_references` -- a Markdown and an HTML reference list and the BibTeX
  subset of the cited entries.

An unknown key raises :class:`ketameta.errors.InputError` naming the bibliography file and the key.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pybtex.errors
from pybtex.database import BibliographyData, Entry, Person, parse_file
from pybtex.plugin import find_plugin
from pybtex.richtext import Text

from ..errors import InputError, InputErrors
from ..io import atomic_write
from .format import escape_html, escape_latex, escape_markdown, latex_char

__all__ = ["Citations", "FORMATS", "CITABLE_FIELDS", "PRIMARY_HOSTS"]

#: what a reference needs to be citable (``doi or pmid``: either identifier)
CITABLE_FIELDS = ("author", "year", "title", "journal", "volume", "pages", "doi or pmid")

#: hosts of a link that may stand in a reference when there is no DOI or PMID (the record of
#: the work itself: registries, PubMed, PubMed Central, doi.org); any other address is a copy
#: of the document and stays in the provenance columns of the data sheets only
PRIMARY_HOSTS = ("doi.org", "ncbi.nlm.nih.gov", "clinicaltrials.gov", "europepmc.org",
                 "cochranelibrary.com")

#: a phrase saying that a detail was not seen ("journal not shown", "title not recorded"): it
#: describes the extraction, not the work, and is left out of a formatted reference
_MISSING_PHRASE = re.compile(
    r"[^;,()]*\bnot (?:shown|seen|recorded|found|given|known|available)\b[^;,()]*", re.I)

#: Output formats understood by :meth:`Citations.entry` (pybtex backend names).
FORMATS = ("text", "markdown", "html", "latex")


@functools.lru_cache(maxsize=None)
def _backend(fmt: str):
    """One pybtex backend per format (looking a plugin up scans every installed entry point)."""
    return find_plugin("pybtex.backends", fmt)()


@functools.lru_cache(maxsize=4096)
def _plain(latex: str) -> str:
    """Plain unicode text of a BibTeX field (LaTeX accents decoded, braces dropped)."""
    return Text.from_latex(latex).render(_backend("text")).strip()


def _person_name(p: Person) -> str:
    return _plain(" ".join(p.prelast_names + p.last_names))


def _year(entry: Entry) -> str:
    year = entry.fields.get("year") or ""
    if not year:
        m = re.match(r"\s*(\d{4})", entry.fields.get("date", ""))
        year = m.group(1) if m else ""
    year = _plain(year) if year else ""
    return year or "n.d."


class Citations:
    """One bibliography: labels and formatted references for its entries.

    Parameters
    ----------
    bib : str, os.PathLike or pybtex.database.BibliographyData
        A BibTeX file (parsed with pybtex) or already-parsed data.
    style : str, default "plain"
        pybtex formatting style used for references ("plain", "unsrt", "alpha", "unsrtalpha";
        they differ in sorting and labels, which ketameta does itself, and format fields the
        same way).
    name : str, optional
        How to name the bibliography in error messages when ``bib`` is not a path.
    names : mapping, optional
        Citation key -> a name for entries without author, editor, organisation or shorthand
        (e.g. the trial's name, derived from the study sheet by
        :func:`ketameta.synthesis.labels.fallback_names`); the year is added to it.

    Raises
    ------
    InputError
        If the file cannot be read or parsed (duplicate keys, syntax errors).

    Notes
    -----
    Labels follow the author--year convention: one author "Berman 2000", two "Murrough &
    Iosifescu 2013", three or more "Luckenbaugh et al. 2014" (name particles are kept: "van
    der Berg 2020"). A biblatex ``shorthand`` field is used as the whole label. Without
    authors, the editors are used; without either, the ``organization`` or ``institution``
    field; without any of those, the name given in ``names`` (e.g. "TRANSFORM-1"), else the
    citation key with its year taken out ("sanacora reply 2017"). A label is never a journal
    or a title: they do not identify a study to a reader. A missing year prints as "n.d.".
    Labels that would coincide get suffixes a, b, ... in title order, computed over the whole bibliography so a study has the same label in every output.

    Examples
    --------
    >>> cit = Citations("data/references.bib")  # doctest: +SKIP
    >>> cit.label("luckenbaugh2014")            # doctest: +SKIP
    'Luckenbaugh et al. 2014'
    """

    def __init__(
        self,
        bib: str | os.PathLike[str] | BibliographyData,
        *,
        style: str = "plain",
        name: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(bib, BibliographyData):
            self.path = name or "<bibliography>"
            self.data = bib
        else:
            self.path = str(bib)
            if not Path(bib).is_file():
                raise InputError("bibliography file not found", file=self.path)
            try:
                with pybtex.errors.capture() as problems:
                    self.data = parse_file(str(bib), bib_format="bibtex")
            except Exception as exc:  # pybtex raises several unrelated types
                raise InputError(f"cannot parse BibTeX: {exc}", file=self.path) from exc
            if problems:
                raise InputErrors(
                    [InputError(f"BibTeX problem: {p}", file=self.path) for p in problems]
                )
        try:
            self._style = find_plugin("pybtex.style.formatting", style)()
        except Exception as exc:
            raise ValueError(f"unknown pybtex style {style!r}") from exc
        self.style = style
        self.names = dict(names or {})
        self._labels: dict[str, str] | None = None

    # ---- keys ----------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.data.entries

    def __len__(self) -> int:
        return len(self.data.entries)

    def keys(self) -> list[str]:
        """All citation keys, in file order."""
        return list(self.data.entries.keys())

    def check(self, key: str) -> str:
        """Return the key as spelled in the bibliography, or raise :class:`InputError`.

        Parameters
        ----------
        key : str
            Citation key (BibTeX keys are case-insensitive).

        Returns
        -------
        str

        Raises
        ------
        InputError
            The key is not in the bibliography; the message names the file and the key and
            suggests close matches.
        """
        if not isinstance(key, str) or key not in self.data.entries:
            close = difflib.get_close_matches(str(key), self.keys(), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise InputError(
                f"unknown citation key {key!r}: it is not in the bibliography{hint}",
                file=self.path,
                value=key,
            )
        entry = self.data.entries[key]
        return entry.key

    def _entry(self, key: str) -> Entry:
        return self.data.entries[self.check(key)]

    # ---- labels --------------------------------------------------------------------------

    def _base_label(self, entry: Entry) -> str:
        if entry.fields.get("shorthand"):
            return _plain(entry.fields["shorthand"])
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_person_name(p) for p in persons if str(p).strip().lower() != "others"]
        etal = any(str(p).strip().lower() == "others" for p in persons)
        if names:
            if len(names) == 1 and not etal:
                who = names[0]
            elif len(names) == 2 and not etal:
                who = f"{names[0]} & {names[1]}"
            else:
                who = f"{names[0]} et al."
        elif entry.fields.get("organization") or entry.fields.get("institution"):
            who = _plain(entry.fields.get("organization") or entry.fields["institution"])
        elif self.names.get(entry.key):
            who = self.names[entry.key]
        else:
            # the key, without its year (never the journal or the title: neither names a study)
            year = _year(entry)
            parts = [p for p in re.findall(r"[A-Za-z]+|\d+", entry.key) if p != year]
            who = " ".join(parts) or entry.key
        return f"{who} {_year(entry)}"

    def _all_labels(self) -> dict[str, str]:
        if self._labels is None:
            groups: dict[str, list[str]] = {}
            for key, entry in self.data.entries.items():
                groups.setdefault(self._base_label(entry), []).append(key)
            labels = {}
            for base, keys in groups.items():
                if len(keys) == 1:
                    labels[keys[0]] = base
                    continue
                order = sorted(
                    keys, key=lambda k: (_plain(self.data.entries[k].fields.get("title", "")), k)
                )
                for i, k in enumerate(order):
                    labels[k] = base + _suffix(i)
            self._labels = labels
        return self._labels

    def label(self, key: str) -> str:
        """Author--year label of one entry (plain text; escape it for the target format).

        Parameters
        ----------
        key : str
            Citation key.

        Returns
        -------
        str
            E.g. ``"Luckenbaugh et al. 2014"``.
        """
        return self._all_labels()[self.check(key)]

    def cite(self, keys: Iterable[str], sep: str = "; ") -> str:
        """Labels of several entries joined by ``sep`` (deduplicated, in the given order)."""
        seen: list[str] = []
        for k in keys:
            lab = self.label(k)
            if lab not in seen:
                seen.append(lab)
        return sep.join(seen)

    # ---- formatted references ------------------------------------------------------------

    def entry(self, key: str, fmt: str = "text") -> str:
        r"""One reference formatted by the pybtex style and rendered for ``fmt``.

        The reference is what a reader cites: the link is the DOI (else the PMID, else an
        address of the record itself, :data:`PRIMARY_HOSTS`); copies of the document (mirror
        addresses), extraction notes and phrases such as "journal not shown" are left out (they
        stay in ``data/references.bib`` and the provenance columns of the data sheets).

        Parameters
        ----------
        key : str
            Citation key.
        fmt : {"text", "markdown", "html", "latex"}
            Output format. HTML and Markdown are escaped by pybtex's backends; LaTeX keeps the
            BibTeX field markup, with non-ASCII characters converted to LaTeX commands and
            ``\\newblock`` removed (it only exists inside ``thebibliography``). Links use
            ``\\href``/``\\url`` (load ``hyperref``).

        Returns
        -------
        str
            One line of text in the target format.
        """
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        entry = self._entry(key)
        try:
            formatted = self._style.format_entry(self.label(key), self._reader_entry(entry))
        except Exception as exc:  # e.g. pybtex FieldIsMissing for a required field
            raise InputError(
                f"cannot format entry {entry.key!r} with the {self.style!r} style: {exc}",
                file=self.path,
                value=entry.key,
            ) from exc
        backend = _backend(fmt)
        text = formatted.text.render(backend)
        if fmt == "latex":
            text = re.sub(r"\s*\\newblock\s*", " ", text)
            text = _latex_ascii(text)
        text = re.sub(r"\s*\n\s*", " ", text).strip()
        return text

    def missing_fields(self, key: str) -> list[str]:
        """The fields of :data:`CITABLE_FIELDS` that the entry of ``key`` lacks.

        An author list of "others" only, or a field whose text says it was not found, counts
        as missing. ``doi or pmid`` is missing when the entry has neither.
        """
        entry = self._entry(key)
        f = {k.lower(): v for k, v in entry.fields.items()}
        out = []
        for name in CITABLE_FIELDS:
            if name == "author":
                persons = [p for p in entry.persons.get("author", [])
                           if str(p).strip().lower() != "others"]
                ok = bool(persons)
            elif name == "doi or pmid":
                ok = bool(str(f.get("doi", "")).strip() or str(f.get("pmid", "")).strip())
            else:
                v = str(f.get(name, "")).strip()
                ok = bool(v) and not _MISSING_PHRASE.fullmatch(v)
            if not ok:
                out.append(name)
        return out

    def _reader_entry(self, entry: Entry) -> Entry:
        """The entry as a reader cites it: the DOI (else PMID, else the record's own address)
        as the link, no copy/mirror address, no extraction note, no "not shown" phrases.
        """
        fields = {k: v for k, v in entry.fields.items() if k.lower() not in ("note", "url", "pmid")}
        low = {k.lower(): v for k, v in entry.fields.items()}
        doi = str(low.get("doi", "")).strip()
        pmid = str(low.get("pmid", "")).strip()
        url = str(low.get("url", "")).strip()
        if not doi and pmid:
            fields["pubmed"] = pmid
        if not doi and not pmid and url:
            host = re.sub(r"^[a-z]+://", "", url.lower()).split("/", 1)[0]
            if any(host == h or host.endswith("." + h) for h in PRIMARY_HOSTS):
                fields["url"] = url
        for name in ("howpublished", "journal", "title"):
            if name in fields:
                text = _MISSING_PHRASE.sub("", str(fields[name]))
                text = re.sub(r"\(\s*[;,]?\s*\)", "", text)
                text = re.sub(r"\s*[;,]\s*(?=[);]|$)", "", text)
                text = re.sub(r"\(\s*;\s*", "(", text).strip(" ;,")
                if text:
                    fields[name] = text
                else:
                    del fields[name]
        return Entry(entry.type, fields=fields, persons=entry.persons)

    def reference_list(
        self, keys: Iterable[str], fmt: str = "text", *, labels: bool = True
    ) -> list[str]:
        """Formatted references for ``keys``: deduplicated, sorted by label.

        Parameters
        ----------
        keys : iterable of str
            Citation keys (duplicates allowed).
        fmt : {"text", "markdown", "html", "latex"}
            Output format.
        labels : bool, default True
            Start each reference with its author--year label (bold in Markdown, HTML and LaTeX)
            so table rows can be matched to references, including "2020a"/"2020b" cases.

        Returns
        -------
        list of str
            One formatted reference per distinct entry.
        """
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        canon: list[str] = []
        for k in keys:
            c = self.check(k)
            if c not in canon:
                canon.append(c)
        canon.sort(key=lambda k: (self.label(k).casefold(), k))
        out = []
        for k in canon:
            text = self.entry(k, fmt)
            if labels:
                lab = self.label(k)
                head = {
                    "text": lab,
                    "markdown": f"**{escape_markdown(lab)}**",
                    "html": f"<strong>{escape_html(lab)}</strong>",
                    "latex": f"\\textbf{{{escape_latex(lab)}}}",
                }[fmt]
                text = f"{head}: {text}"
            out.append(text)
        return out

    def subset(self, keys: Iterable[str]) -> BibliographyData:
        """A new bibliography holding only ``keys`` (sorted by label)."""
        canon = sorted({self.check(k) for k in keys}, key=lambda k: (self.label(k).casefold(), k))
        return BibliographyData(entries={k: self.data.entries[k] for k in canon})

    def write_references(
        self,
        keys: Iterable[str],
        md_path: str | os.PathLike[str] | None = None,
        html_path: str | os.PathLike[str] | None = None,
        bib_path: str | os.PathLike[str] | None = None,
        *,
        title: str = "References",
    ) -> list[Path]:
        """Write the reference list of ``keys`` as Markdown, HTML and BibTeX (atomically).

        Parameters
        ----------
        keys : iterable of str
            Citation keys cited by the outputs.
        md_path : path, optional
            Markdown file: a heading and one bullet per reference.
        html_path : path, optional
            A small self-contained HTML document with the list (no external resources).
        bib_path : path, optional
            The cited entries as BibTeX, written by pybtex.
        title : str, default "References"
            Heading of the Markdown and HTML lists.

        Returns
        -------
        list of Path
            The files written.
        """
        keys = list(keys)
        for k in keys:
            self.check(k)
        written = []
        if md_path is not None:
            items = self.reference_list(keys, "markdown")
            text = f"# {escape_markdown(title)}\n\n" + "".join(f"- {r}\n" for r in items)
            with atomic_write(md_path) as fh:
                fh.write(text)
            written.append(Path(md_path))
        if html_path is not None:
            items = self.reference_list(keys, "html")
            t = escape_html(title)
            text = (
                '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f'<title>{t}</title>\n</head>\n<body>\n<h1>{t}</h1>\n<ul class="km-references">\n'
                + "".join(f"<li>{r}</li>\n" for r in items)
                + "</ul>\n</body>\n</html>\n"
            )
            with atomic_write(html_path) as fh:
                fh.write(text)
            written.append(Path(html_path))
        if bib_path is not None:
            text = self.subset(keys).to_string("bibtex")
            with atomic_write(bib_path) as fh:
                fh.write(text)
            written.append(Path(bib_path))
        return written


def _suffix(i: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa, ..."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(97 + r) + s
    return s


_MATH = re.compile(r"(?<!\\)\$.*?(?<!\\)\$")


def _latex_ascii(text: str) -> str:
    """Make pybtex's LaTeX output ASCII and safe in text mode.

    pybtex keeps decoded characters (``é``, ``–``) as UTF-8 and leaves ``<``/``>`` as typed;
    convert the former with latexcodec and the latter (outside ``$...$``) to text commands.
    """
    out = []
    pos = 0
    for m in list(_MATH.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        chunk = text[pos:end]
        chunk = chunk.replace("<", r"\textless{}").replace(">", r"\textgreater{}")
        out.append("".join(c if ord(c) < 128 else latex_char(c) for c in chunk))
        if m:
            out.append(m.group(0))
            pos = m.end()
    return "".join(out)
