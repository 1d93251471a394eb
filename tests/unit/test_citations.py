"""Citations from BibTeX: labels, formatted references, escaping, errors, written files."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from pybtex.database import parse_file, parse_string

from ketameta.errors import InputError
from ketameta.outputs.citations import Citations

BIB = r"""
@article{luckenbaugh2014,
  author  = {Luckenbaugh, David A. and Niciu, Mark J. and Ionescu, Dawn F. and Zarate, Jr., Carlos A.},
  title   = {Do the dissociative side effects of ketamine mediate its antidepressant effects?},
  journal = {J Affect Disord},
  year    = {2014},
  volume  = {159},
  pages   = {56--61},
  doi     = {10.1016/j.jad.2014.02.017}
}
@article{murrough2013,
  author  = {Murrough, James W. and Iosifescu, Dan V.},
  title   = {Antidepressant efficacy of ketamine in treatment-resistant major depression},
  journal = {Am J Psychiatry},
  year    = {2013},
  volume  = {170},
  pages   = {1134--1142}
}
@article{berman2000,
  author  = {Berman, Robert M.},
  title   = {Antidepressant effects of ketamine in depressed patients},
  journal = {Biol Psychiatry},
  year    = {2000}
}
@article{mueller2019,
  author  = {M{\"u}ller, J{\'e}r{\^o}me and van der Berg, Anna and others},
  title   = {Ketamine \& esketamine: 50\% response, snake\_case \#1 {<script>alert(1)</script>}},
  journal = {J \& K},
  year    = {2019},
  pages   = {1--2}
}
@misc{who2017,
  author  = {{World Health Organization}},
  title   = {Depression and Other Common Mental Disorders: Global Health Estimates},
  year    = {2017}
}
@techreport{nice2022,
  institution = {National Institute for Health and Care Excellence},
  title   = {Depression in adults: treatment and management},
  year    = {2022}
}
@misc{clinics2021,
  title   = {Ketamine clinics in the United States of America and Canada: a survey of practice},
  year    = {2021}
}
@misc{notitle,
  note    = {Personal communication}
}
@article{mathai2020a,
  author  = {Mathai, David S. and Meyer, Matthew J. and Storch, Eric A.},
  title   = {The relationship between subjective effects induced by a single dose of ketamine and treatment response},
  journal = {J Affect Disord},
  year    = {2020}
}
@article{mathai2020b,
  author  = {Mathai, David S. and Someone, Else and Other, Person},
  title   = {A second paper by the same first author in the same year},
  journal = {J Affect Disord},
  year    = {2020}
}
"""


@pytest.fixture
def bib_path(tmp_path):
    p = tmp_path / "references.bib"
    p.write_text(BIB, encoding="utf-8")
    return p


@pytest.fixture
def cit(bib_path):
    return Citations(bib_path)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse_html(s):
    p = _Text()
    p.feed(s)
    p.close()
    return "".join(p.text), p.tags


def _braces_balanced(s):
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


# ---- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, label",
    [
        ("berman2000", "Berman 2000"),
        ("murrough2013", "Murrough & Iosifescu 2013"),
        ("luckenbaugh2014", "Luckenbaugh et al. 2014"),
        ("mueller2019", "Müller et al. 2019"),  # "and others" -> et al., accents decoded
        ("who2017", "World Health Organization 2017"),  # braced corporate author
        ("nice2022", "National Institute for Health and Care Excellence 2022"),  # institution
        ("clinics2021", "clinics 2021"),  # no author: the key without its year, never the title
        ("notitle", "notitle n.d."),  # nothing but the key
        ("mathai2020b", "Mathai et al. 2020a"),  # disambiguated, title order
        ("mathai2020a", "Mathai et al. 2020b"),
    ],
)
def test_labels(cit, key, label):
    assert cit.label(key) == label


def test_keys_are_case_insensitive_and_canonical(cit):
    assert cit.label("BERMAN2000") == "Berman 2000"
    assert cit.check("Berman2000") == "berman2000"
    assert "BERMAN2000" in cit and "nope" not in cit


def test_name_particles_kept():
    c = Citations(
        parse_string("@article{x, author={van der Berg, Anna}, title={T}, year={2020}}", "bibtex")
    )
    assert c.label("x") == "van der Berg 2020"


def test_cite_joins_unique_labels(cit):
    assert (
        cit.cite(["berman2000", "murrough2013", "berman2000"])
        == "Berman 2000; Murrough & Iosifescu 2013"
    )


# ---- errors ------------------------------------------------------------------------------


def test_unknown_key_names_file_and_key(cit, bib_path):
    with pytest.raises(InputError) as ei:
        cit.label("luckenbaug2014")
    msg = str(ei.value)
    assert str(bib_path) in msg and "luckenbaug2014" in msg
    assert "did you mean 'luckenbaugh2014'" in msg
    assert ei.value.file == str(bib_path)


@pytest.mark.parametrize("method", ["entry", "reference_list", "subset"])
def test_unknown_key_in_every_method(cit, method):
    arg = "missing2000" if method == "entry" else ["berman2000", "missing2000"]
    with pytest.raises(InputError, match="missing2000"):
        getattr(cit, method)(arg)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Citations(tmp_path / "nope.bib")
    dup = tmp_path / "dup.bib"
    dup.write_text(BIB + BIB, encoding="utf-8")
    with pytest.raises(InputError, match="repeated bibliography entry"):
        Citations(dup)
    bad = tmp_path / "bad.bib"
    bad.write_text("@article{x, title = {unclosed", encoding="utf-8")
    with pytest.raises(InputError) as ei:
        Citations(bad)
    assert str(bad) in str(ei.value)


def test_bad_format_and_style(cit, bib_path):
    with pytest.raises(ValueError, match="fmt"):
        cit.entry("berman2000", "rtf")
    with pytest.raises(ValueError, match="style"):
        Citations(bib_path, style="nonexistent")


def test_accepts_parsed_data(bib_path):
    c = Citations(parse_file(str(bib_path)), name="refs.bib")
    assert c.label("berman2000") == "Berman 2000"
    with pytest.raises(InputError, match="refs.bib"):
        c.label("zzz")


# ---- formatted entries ---------------------------------------------------------------------


def test_entry_text(cit):
    s = cit.entry("murrough2013", "text")
    assert s.startswith("James W. Murrough and Dan V. Iosifescu.")
    assert "170:1134–1142, 2013." in s and "\n" not in s


def test_entry_html_escapes_data(cit):
    s = cit.entry("mueller2019", "html")
    text, tags = _parse_html(s)
    assert "script" not in tags
    assert "<script>alert(1)</script>" in text
    assert "Ketamine & esketamine: 50% response, snake_case #1" in text
    assert "Müller" in text


def test_entry_markdown_escapes_data(cit):
    s = cit.entry("mueller2019", "markdown")
    assert "<script>" not in s and "&lt;script&gt;" in s
    assert "snake\\_case" in s and "\n" not in s


def test_entry_latex_is_ascii_and_escaped(cit):
    s = cit.entry("mueller2019", "latex")
    assert s.isascii()
    assert r"Ketamine \& esketamine: 50\% response, snake\_case \#1" in s
    assert r"\textless{}script\textgreater{}" in s
    assert "\\newblock" not in s
    assert _braces_balanced(s)
    # no unescaped special characters
    body = re.sub(r"\\[A-Za-z]+|\\.", "", s)
    assert not re.search(r"[&%#_<>]", body)
    assert cit.entry("luckenbaugh2014", "latex").count("--") == 1  # en dash in pages


def test_entry_with_doi_links(cit):
    assert 'href="https://doi.org/10.1016/j.jad.2014.02.017"' in cit.entry(
        "luckenbaugh2014", "html"
    )
    assert "\\href{https://doi.org/10.1016/j.jad.2014.02.017}" in cit.entry(
        "luckenbaugh2014", "latex"
    )
    assert "(https://doi.org/10.1016/j.jad.2014.02.017)" in cit.entry("luckenbaugh2014", "markdown")


# ---- reference lists -----------------------------------------------------------------------


def test_reference_list_sorted_deduplicated(cit):
    refs = cit.reference_list(
        ["murrough2013", "berman2000", "luckenbaugh2014", "BERMAN2000"], "text"
    )
    assert [r.split(":")[0] for r in refs] == [
        "Berman 2000",
        "Luckenbaugh et al. 2014",
        "Murrough & Iosifescu 2013",
    ]
    plain = cit.reference_list(["berman2000"], "text", labels=False)
    assert plain == [cit.entry("berman2000", "text")]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "latex"])
def test_reference_list_labels_escaped(cit, fmt):
    (ref,) = cit.reference_list(["murrough2013"], fmt)
    head = {
        "text": "Murrough & Iosifescu 2013: ",
        "markdown": "**Murrough & Iosifescu 2013**: ",
        "html": "<strong>Murrough &amp; Iosifescu 2013</strong>: ",
        "latex": "\\textbf{Murrough \\& Iosifescu 2013}: ",
    }[fmt]
    assert ref.startswith(head)


def test_write_references(cit, tmp_path):
    keys = ["mueller2019", "berman2000", "berman2000"]
    out = cit.write_references(keys, tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.bib")
    assert [p.name for p in out] == ["r.md", "r.html", "r.bib"]
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert md.startswith("# References\n\n- **Berman 2000**: ")
    assert md.count("\n- ") == 2
    text, tags = _parse_html((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "script" not in tags and tags.count("li") == 2
    assert "<script>alert(1)</script>" in text
    sub = parse_file(str(tmp_path / "r.bib"))
    assert sorted(sub.entries.keys()) == ["berman2000", "mueller2019"]
    assert Citations(tmp_path / "r.bib").label("mueller2019") == "Müller et al. 2019"
    assert (
        sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    )  # no temp files


def test_write_references_unknown_key_writes_nothing(cit, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputError):
        cit.write_references(["berman2000", "zzz"], out / "r.md", out / "r.html", out / "r.bib")
    assert not out.exists() or list(out.iterdir()) == []


def test_shorthand_and_names_for_entries_without_authors():
    from pybtex.database import parse_string

    bib = parse_string("@misc{a, title={T}, journal={J Affect Disord}, year={2019}}\n"
                       "@misc{b, shorthand={KITE 2024}, title={U}, year={2024}}", "bibtex")
    assert Citations(bib, names={"a": "TRANSFORM-1"}).label("a") == "TRANSFORM-1 2019"
    assert Citations(bib).label("a") == "a 2019"
    assert Citations(bib).label("b") == "KITE 2024"


# ---- references a reader can cite (issue 18) ----------------------------------------------

READER_BIB = r"""
@article{full2020,
  author = {Able, Ann and Baker, Ben}, title = {A trial}, journal = {J Affect Disord},
  volume = {1}, pages = {2--3}, year = {2020}, doi = {10.1/abc},
  url = {https://mirror.example.org/copy-of-the-paper.pdf},
  note = {Read on a third-party copy}
}
@article{pmidonly2019,
  author = {Cole, Cy and others}, title = {Another trial}, journal = {Biol Psychiatry},
  year = {2019}, pmid = {12345678}, url = {https://www.bioseek.eu/some/mirror}
}
@misc{partial2018,
  title = {A review}, howpublished = {Library discovery record (publisher Elsevier; journal not shown)},
  year = {2018}, url = {https://aggregator.example.com/record/1},
  note = {Authors not shown in the available excerpt}
}
@misc{registry2021,
  title = {A registered trial}, howpublished = {ClinicalTrials.gov}, year = {2021},
  url = {https://clinicaltrials.gov/study/NCT00000001}
}
"""


@pytest.fixture
def reader_cit():
    return Citations(parse_string(READER_BIB, "bibtex"))


def test_reference_links_the_doi_not_a_mirror(reader_cit):
    html = reader_cit.entry("full2020", "html")
    assert 'href="https://doi.org/10.1/abc"' in html
    assert "mirror.example.org" not in html and "third-party copy" not in html
    pm = reader_cit.entry("pmidonly2019", "html")
    assert 'href="https://www.ncbi.nlm.nih.gov/pubmed/12345678"' in pm and "bioseek" not in pm
    # no DOI or PMID: a registry record keeps its own address, a copy elsewhere does not
    assert "clinicaltrials.gov/study/NCT00000001" in reader_cit.entry("registry2021", "html")
    assert "aggregator.example.com" not in reader_cit.entry("partial2018", "html")


def test_reference_never_prints_a_missing_detail_as_a_field(reader_cit):
    for fmt in ("text", "html", "markdown", "latex"):
        text = reader_cit.entry("partial2018", fmt)
        assert not re.search(r"not shown|excerpt", text, re.I), text
    assert "Library discovery record (publisher Elsevier)" in reader_cit.entry("partial2018")


def test_missing_fields_of_a_reference(reader_cit):
    assert reader_cit.missing_fields("full2020") == []
    assert reader_cit.missing_fields("pmidonly2019") == ["volume", "pages"]
    assert reader_cit.missing_fields("partial2018") == [
        "author", "journal", "volume", "pages", "doi or pmid"]
