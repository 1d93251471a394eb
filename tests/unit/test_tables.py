"""Tables in CSV, Markdown, LaTeX and HTML: formatting, escaping, structure, atomic writes."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from ketameta.errors import InputError
from ketameta.io import atomic_write
from ketameta.outputs.citations import Citations
from ketameta.outputs.format import (
    escape_html,
    escape_latex,
    escape_markdown,
    fmt_ci,
    fmt_num,
    fmt_p,
)
from ketameta.outputs.tables import Table

NASTY = "<script>alert(1)</script> & 50% of_x #1 $5 {a} ~b ^c \\d |e"

BIB = r"""
@article{luckenbaugh2014,
  author = {Luckenbaugh, David A. and Niciu, Mark J. and Ionescu, Dawn F.},
  title = {Do the dissociative side effects of ketamine mediate its antidepressant effects?},
  journal = {J Affect Disord}, year = {2014}, pages = {56--61}
}
@article{murrough2013,
  author = {Murrough, James W. and Iosifescu, Dan V.},
  title = {Antidepressant efficacy of ketamine: 50\% \& more},
  journal = {Am J Psychiatry}, year = {2013}
}
@article{weird2020,
  author = {{<script>alert(1)</script> \& Co_op}},
  title = {A title with $\alpha$ and snake\_case},
  journal = {J}, year = {2020}
}
"""


@pytest.fixture
def cit(tmp_path):
    p = tmp_path / "refs.bib"
    p.write_text(BIB, encoding="utf-8")
    return Citations(p)


def make_table(cit=None, **kw):
    df = pd.DataFrame(
        {
            "source": ["luckenbaugh2014", "murrough2013", "weird2020", None],
            "label": ["x", "y", "z", "Pooled"],
            "k": [1, 1, 1, 3],
            "estimate": [0.351, -0.1049, 0.2, 0.2],
            "ci_lb": [0.17, -0.4, np.nan, 0.05],
            "ci_ub": [0.51, 0.2, np.nan, 0.35],
            "pval": [0.00002, 0.51, np.nan, 0.012],
            "weight": [40.0, 35.0, 25.0, np.nan],
            "note": [NASTY, "plain", "", "pooled | row"],
        }
    )
    args = dict(
        data=df,
        title="Dissociation & response (r) 100%",
        caption="Caption with <b>tags</b> & _under_ {braces}",
        notes=[
            "k = 3; model: random effects, REML; test: Knapp–Hartung; sign: positive = benefit",
            "# not a heading",
            NASTY,
        ],
        label="tab:dissociation",
        formats={"pval": "p", "weight": "%", "estimate": 2},
        ci={"r [95% CI]": ("estimate", "ci_lb", "ci_ub")},
        rename={"k": "k", "pval": "p", "weight": "Weight", "note": "Note"},
        columns=["Study", "k", "r [95% CI]", "pval", "weight", "note"],
    )
    if cit is not None:
        args.update(citations=cit, citekeys="source", study_column="Study")
        args["data"] = df.rename(columns={"label": "Study"})
    else:
        args["columns"] = ["label", "k", "r [95% CI]", "pval", "weight", "note"]
    args.update(kw)
    return Table(**args)


# ---- helpers: parse the outputs -------------------------------------------------------------


class _HTML(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.stack, self.rows = [], [], []
        self.text = {"caption": "", "th": [], "td": [], "p": [], "li": []}
        self._cur = None
        self._buf = ""

    VOID = {"meta", "br", "img", "hr", "link", "input"}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in self.VOID:
            return
        self.stack.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("caption", "th", "td", "p", "li"):
            self._cur, self._buf = tag, ""

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack}"
        self.stack.pop()
        if tag == self._cur:
            if tag == "caption":
                self.text["caption"] = self._buf
            else:
                self.text[tag].append(self._buf)
                if tag in ("th", "td"):
                    self.rows[-1].append(self._buf)
            self._cur = None

    def handle_data(self, data):
        if self._cur:
            self._buf += data


def parse_html(s):
    p = _HTML()
    p.feed(s)
    p.close()
    assert p.stack == [], f"unclosed tags {p.stack}"
    return p


def _strip_escapes(s):
    """LaTeX source with commands and escaped characters removed (what is left must be plain)."""
    return re.sub(r"\\[A-Za-z]+\*?|\\[^A-Za-z]", "", s)


def check_latex_structure(tex, ncol):
    """Strict structural check of a LaTeX table (used when no TeX engine is installed)."""
    # balanced braces and brackets-as-groups (ignoring escaped ones)
    depth = 0
    for ch in re.sub(r"\\[{}]", "", re.sub(r"\\\\", "", tex)):
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0, "unbalanced }"
    assert depth == 0, "unbalanced {"
    # environments properly nested
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{([A-Za-z*]+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack[-1] == env, f"\\end{{{env}}} does not match {stack}"
            stack.pop()
    assert not stack, f"unclosed environments {stack}"
    # booktabs rules, in order, once each
    rules = re.findall(r"\\(toprule|midrule|bottomrule)", tex)
    assert rules == ["toprule", "midrule", "bottomrule"]
    # every tabular row has ncol cells: ncol-1 unescaped &
    body = tex.split("\\toprule", 1)[1].split("\\bottomrule", 1)[0]
    rows = [r for r in body.replace("\\midrule", "").split("\\\\") if r.strip()]
    for r in rows:
        assert len(re.findall(r"(?<!\\)&", r)) == ncol - 1, f"row with wrong column count: {r!r}"
    spec = (re.search(r"\\begin\{tabular\}\{@\{\}([lrc]+)@\{\}\}", tex)
            or re.search(r"\\begin\{tabularx\}\{\\linewidth\}\{@\{\}(.+?)@\{\}\}\n", tex))
    assert spec
    letters = re.sub(r">\{\\raggedright\\arraybackslash\}X", "X", spec.group(1))
    assert re.fullmatch(r"[lrcX]+", letters) and len(letters) == ncol
    # outside the tabular separators, no special character is left unescaped
    plain = re.sub(r">\{\\raggedright\\arraybackslash\}X", "X", tex)  # tabularx column type
    plain = _strip_escapes(re.sub(r"\\label\{[^}]*\}", "", plain).replace(" & ", " "))  # labels may hold _
    plain = re.sub(r"\$[^$]*\$", "", plain)  # maths written in the BibTeX source ($\alpha$)
    plain = re.sub(r"(?<=[A-Za-z.])~(?=[A-Za-z])", " ", plain)  # pybtex's ties: "David~A."
    for ch in "&%#$^~_<>|":
        assert (
            ch not in plain
        ), f"unescaped {ch!r} in LaTeX: {plain[plain.find(ch) - 30: plain.find(ch) + 30]!r}"
    assert tex.isascii()


def _markdown_cells(line):
    """Split a pipe-table row on unescaped pipes."""
    assert line.startswith("| ") and line.endswith(" |")
    return re.split(r"(?<!\\)\|", line[1:-1])


# ---- escaping -----------------------------------------------------------------------------


def test_escape_latex_specials():
    assert escape_latex("& % $ # _ { } ~ ^ \\") == (
        r"\& \% \$ \# \_ \{ \} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )
    assert escape_latex("<a|b>") == r"\textless{}a\textbar{}b\textgreater{}"
    assert escape_latex("Knapp–Hartung, I² ≥ 50%, Müller") == (
        r"Knapp--Hartung, I\ensuremath{^2} \ensuremath{\geq} 50\%, M{\"u}ller"
    )
    assert (
        escape_latex("\u00c5ngstr\u00f6m") == r"{\AA}ngstr{\"o}m"
    )  # command braced before letters
    assert escape_latex("a\nb") == "a b"


def test_escape_html():
    assert escape_html("<script>alert('x')</script> & \"q\"") == (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
    )


def test_escape_markdown():
    assert escape_markdown("a|b") == "a\\|b"
    assert escape_markdown("<script>") == "\\<script\\>"
    assert (
        escape_markdown("snake_case *x* `c` $5 ~s~") == "snake\\_case \\*x\\* \\`c\\` \\$5 \\~s\\~"
    )
    assert escape_markdown("Murrough & Iosifescu") == "Murrough & Iosifescu"
    assert escape_markdown("&amp;") == "\\&amp;"
    assert escape_markdown("[x](http://e)") == "\\[x\\](http://e)"
    assert escape_markdown("0.35 [0.17, 0.51]") == "0.35 [0.17, 0.51]"
    assert escape_markdown("# h", block=True) == "\\# h"
    assert escape_markdown("- item", block=True) == "\\- item"
    assert escape_markdown("1. item", block=True) == "1\\. item"
    assert escape_markdown("# h") == "# h"  # inside a table cell a leading # is harmless
    assert escape_markdown("a\nb") == "a b"


# ---- number formatting ---------------------------------------------------------------------


def test_number_formatting():
    assert fmt_num(0.3456) == "0.35"
    assert fmt_num(-0.0001) == "0.00"
    assert fmt_num(2, 0) == "2"
    assert fmt_num(None) == fmt_num(float("nan")) == "–"
    assert fmt_num(math.inf) == "inf"
    assert fmt_p(0.00002) == "< 0.001"
    assert fmt_p(0.0004, 4) == "0.0004"
    assert fmt_p(0.05) == "0.050"
    assert fmt_p(np.nan) == "–"
    with pytest.raises(ValueError):
        fmt_p(1.2)
    assert fmt_ci(0.3512, 0.171, 0.5149) == "0.35 [0.17, 0.51]"
    assert fmt_ci(-0.1, -0.3, 0.05, 1) == "-0.1 [-0.3, 0.1]"
    assert fmt_ci(0.2, np.nan, np.nan) == "0.20"
    assert fmt_ci(np.nan, 0, 1) == "–"


def test_cells_formats_ci_rename():
    t = make_table()
    header, rows, align = t.cells()
    assert header == ["label", "k", "r [95% CI]", "p", "Weight", "Note"]
    assert rows[0][:5] == ["x", "1", "0.35 [0.17, 0.51]", "< 0.001", "40.0%"]
    assert rows[1][2:4] == ["-0.10 [-0.40, 0.20]", "0.510"]
    assert rows[2][2:5] == ["0.20", "–", "25.0%"]
    assert rows[3][4] == "–"
    assert align == ["l", "r", "r", "r", "r", "l"]


def test_default_formats():
    t = Table(
        pd.DataFrame(
            {"a": [1.23456, np.nan], "n": [10, 20], "nf": [3.0, 4.0], "flag": [True, False]}
        )
    )
    header, rows, _ = t.cells()
    assert rows == [["1.23", "10", "3", "yes"], ["–", "20", "4", "no"]]
    t = Table(pd.DataFrame({"a": [1.5]}), formats={"a": "{:.3f} d"})
    assert t.cells()[1] == [["1.500 d"]]
    t = Table(pd.DataFrame({"a": [1234.5]}), formats={"a": ",.1f"})
    assert t.cells()[1] == [["1,234.5"]]
    t = Table(pd.DataFrame({"a": [1.5]}), formats={"a": lambda v: f"~{v}"})
    assert t.cells()[1] == [["~1.5"]]


def test_study_labels_from_citekeys(cit):
    t = make_table(cit)
    header, rows, _ = t.cells()
    assert header[0] == "Study"
    assert [r[0] for r in rows] == [
        "Luckenbaugh et al. 2014",
        "Murrough & Iosifescu 2013",
        "<script>alert(1)</script> & Co_op 2020",
        "Pooled",  # no key: falls back to the data's Study column
    ]
    assert t.reference_keys() == ["luckenbaugh2014", "murrough2013", "weird2020"]


def test_citekeys_as_sequence(cit):
    df = pd.DataFrame({"r": [0.1, 0.2]})
    t = Table(df, citations=cit, citekeys=["murrough2013", ""], references=["luckenbaugh2014"])
    assert t.cells()[1] == [["Murrough & Iosifescu 2013", "0.10"], ["", "0.20"]]
    assert t.reference_keys() == ["murrough2013", "luckenbaugh2014"]
    csv = t.csv_frame()
    assert list(csv.columns) == ["study", "citekey", "r"]


def test_validation_errors(cit):
    df = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ValueError, match="label"):
        Table(df, label="bad label}")
    with pytest.raises(KeyError, match="missing"):
        Table(df, ci={"x": ("a", "b", "c")})
    with pytest.raises(KeyError):
        Table(df, formats={"zz": 2})
    with pytest.raises(ValueError, match="citations"):
        Table(df, citekeys=["murrough2013"])
    with pytest.raises(ValueError, match="rows"):
        Table(df, citations=cit, citekeys=["a", "b"])
    with pytest.raises(InputError, match="nokey"):
        Table(df, citations=cit, citekeys=["nokey"])
    with pytest.raises(InputError, match="refs.bib"):
        Table(df, citations=cit, references=["nokey"])
    with pytest.raises(KeyError):
        Table(df, columns=["a", "zz"])
    with pytest.raises(TypeError):
        Table([1, 2])


# ---- CSV ------------------------------------------------------------------------------------


def test_csv_roundtrip_raw_numbers(tmp_path, cit):
    t = make_table(cit)
    written = t.to_csv(tmp_path / "t.csv")
    assert [p.name for p in written] == ["t.csv", "t.notes.txt"]
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back.columns) == ["study"] + list(t.data.columns)
    assert back["study"][0] == "Luckenbaugh et al. 2014"
    np.testing.assert_array_equal(
        back["estimate"].to_numpy(), t.data["estimate"].to_numpy()
    )  # full precision
    assert back["pval"][0] == 0.00002 and np.isnan(back["ci_lb"][2])
    assert back["note"][0] == NASTY
    raw = (tmp_path / "t.csv").read_bytes()
    assert b"\r\n" not in raw and not raw.startswith(b"#")
    notes = (tmp_path / "t.notes.txt").read_text(encoding="utf-8")
    assert notes.startswith("Dissociation & response (r) 100%\n\nCaption")
    assert "- k = 3; model: random effects, REML" in notes
    assert "References:\n- <script>alert(1)</script> & Co_op 2020: " in notes  # sorted by label
    assert "\n- Luckenbaugh et al. 2014: David A. Luckenbaugh" in notes


def test_csv_without_notes(tmp_path):
    written = make_table().to_csv(tmp_path / "t.csv", notes=False)
    assert written == [tmp_path / "t.csv"] and not (tmp_path / "t.notes.txt").exists()


# ---- Markdown --------------------------------------------------------------------------------


def test_markdown_structure_and_escaping(tmp_path, cit):
    t = make_table(cit)
    md = t.to_markdown(tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text(encoding="utf-8") == md
    lines = md.splitlines()
    assert lines[0] == "**Dissociation & response (r) 100%**"
    table_lines = [line for line in lines if line.startswith("| ")]
    assert len(table_lines) == 2 + len(t.data)
    ncells = {len(_markdown_cells(line)) for line in table_lines}
    assert ncells == {6}, "every row must have the same number of unescaped pipes"
    assert re.fullmatch(r"\| :-+ \| -+: \| -+: \| -+: \| -+: \| :-+ \|", table_lines[1])
    assert "\\<script\\>alert(1)\\</script\\>" in md and "<script>" not in md
    assert "pooled \\| row" in md
    assert "- \\# not a heading" in md
    assert "Caption with \\<b\\>tags\\</b\\> & \\_under\\_ {braces}" in md
    refs = md.split("References:\n\n", 1)[1].splitlines()
    assert len(refs) == 3
    assert refs[0].startswith(
        "- **\\<script\\>alert(1)\\</script\\> & Co\\_op 2020**: &lt;script&gt;"
    )
    assert refs[1].startswith("- **Luckenbaugh et al. 2014**: ")


# ---- HTML -----------------------------------------------------------------------------------


def test_html_structure_and_escaping(tmp_path, cit):
    t = make_table(cit)
    html = t.to_html(tmp_path / "t.html")
    p = parse_html(html)
    assert "script" not in p.tags and "b" not in p.tags
    for tag in ("table", "caption", "thead", "tbody"):
        assert p.tags.count(tag) == 1
    assert (
        p.text["caption"]
        == "Dissociation & response (r) 100% Caption with <b>tags</b> & _under_ {braces}"
    )
    assert p.text["th"] == ["Study", "k", "r [95% CI]", "p", "Weight", "Note"]
    assert len(p.rows) == 1 + len(t.data) and {len(r) for r in p.rows} == {6}
    assert p.rows[3][0] == "<script>alert(1)</script> & Co_op 2020"
    assert p.rows[1][5] == NASTY
    assert NASTY in p.text["p"] and "# not a heading" in p.text["p"]
    assert len(p.text["li"]) == 3
    assert p.text["li"][0].startswith(
        "<script>alert(1)</script> & Co_op 2020: <script>alert(1)</script>"
    )
    assert 'id="tab:dissociation"' in html
    assert '<td class="num">0.35 [0.17, 0.51]</td>' in html


def test_html_standalone(tmp_path):
    html = make_table().to_html(standalone=True)
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    parse_html(html)


# ---- LaTeX ----------------------------------------------------------------------------------


def test_latex_float_structure(tmp_path, cit):
    t = make_table(cit)
    tex = t.to_latex(tmp_path / "t.tex")
    assert (tmp_path / "t.tex").read_text(encoding="utf-8") == tex
    check_latex_structure(tex, ncol=6)
    assert tex.startswith(
        "\\begin{table}[htbp]\n  \\centering\n  \\caption[{Dissociation \\& response (r) 100\\%}]"
    )
    assert "\\label{tab:dissociation}" in tex
    assert (
        "\\textless{}script\\textgreater{}alert(1)\\textless{}/script\\textgreater{} \\& Co\\_op 2020"
        in tex
    )
    assert "Knapp--Hartung" in tex
    assert "\\textit{References.}" in tex and "\\textbf{Luckenbaugh et al. 2014}" in tex
    assert "\\newblock" not in tex


def test_latex_cell_starting_with_bracket_is_protected():
    t = Table(pd.DataFrame({"a": ["[0.1, 0.2]"], "b": [1]}))
    tex = t.to_latex()
    assert "    {}[0.1, 0.2] & 1 \\\\" in tex  # "\\[" would be read as an optional argument
    check_latex_structure(tex, ncol=2)


def test_latex_standalone_and_cite_command(cit):
    t = make_table(cit)
    doc = t.to_latex(standalone=True)
    assert doc.startswith("\\documentclass{article}\n")
    assert "\\usepackage{booktabs}" in doc and doc.rstrip().endswith("\\end{document}")
    check_latex_structure(doc, ncol=6)
    tex = t.to_latex(cite_command="citet")
    assert "\\citet{luckenbaugh2014} &" in tex and "References" not in tex
    with pytest.raises(ValueError):
        t.to_latex(cite_command="cite{x}")
    with pytest.raises(ValueError):
        t.to_latex(placement="h}")


def _tex_engine():
    for name in ("pdflatex", "lualatex"):
        if shutil.which(name):
            return name
    return None


def test_latex_compiles(tmp_path, cit):
    """A standalone table compiles with pdflatex (TeX Live: texlive-latex-base,
    texlive-latex-recommended, lmodern). Skipped without TeX, unless ``KETAMETA_REQUIRE_LATEX=1``
    (set by ``.ci/run``, which installs TeX Live), which makes a missing engine a failure."""
    if _tex_engine() is None:
        msg = "no pdflatex/lualatex installed (structure is checked instead)"
        if os.environ.get("KETAMETA_REQUIRE_LATEX") == "1":
            pytest.fail(msg + " and KETAMETA_REQUIRE_LATEX=1 requires it", pytrace=False)
        pytest.skip(msg)
    t = make_table(cit)
    t.to_latex(tmp_path / "t.tex", standalone=True)
    res = subprocess.run(
        [_tex_engine(), "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "t.pdf").exists()


# ---- atomic writes --------------------------------------------------------------------------


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("partial new content")
            raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_creates_dirs_and_permissions(tmp_path):
    target = tmp_path / "a" / "b" / "x.bin"
    with atomic_write(target, "wb") as fh:
        fh.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert target.stat().st_mode & 0o777 != 0o600  # not mkstemp's private mode
    with pytest.raises(ValueError):
        with atomic_write(target, "a"):
            pass


def test_failing_writer_leaves_no_partial_table(tmp_path, monkeypatch):
    t = make_table()
    target = tmp_path / "t.csv"

    def broken(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError):
        t.to_csv(target)
    assert list(tmp_path.iterdir()) == []


# ---- tables for readers (issue 18) --------------------------------------------------------


def test_reader_headers_and_values_in_every_format_internal_names_in_csv(tmp_path):
    from ketameta.outputs.labels import HEADERS

    df = pd.DataFrame({"study_id": ["a_1"], "dose_mg_kg": [0.5], "test": ["knha"],
                       "outcome": ["dissociation_improvement_association"],
                       "effect_id": ["a_1_r_7day"]})
    t = Table(df, provenance=["effect_id"])
    header, rows, _ = t.cells()
    assert header == ["Study", "Dose (mg/kg)", "Test", "Outcome", HEADERS["effect_id"]]
    assert rows[0][2:] == ["Knapp-Hartung", "dissociation-improvement association", "a_1_r_7day"]
    for text in (t.to_markdown(), t.to_latex(), t.to_html()):
        for name in ("study\\_id", "study_id", "dose_mg_kg", "knha", "dissociation_improvement"):
            assert name not in text
    assert '<td class="km-prov">a_1_r_7day</td>' in t.to_html()
    t.to_csv(tmp_path / "t.csv")
    assert list(pd.read_csv(tmp_path / "t.csv").columns) == list(df.columns)
    assert pd.read_csv(tmp_path / "t.csv")["test"].tolist() == ["knha"]


def test_value_labels_name_analyses_in_reader_terms():
    df = pd.DataFrame({"analysis": ["dose_metareg"], "estimate": [1.0]})
    t = Table(df, coded=["analysis"], value_labels={"dose_metareg": "Dose and response"})
    assert t.cells()[1][0][0] == "Dose and response"


def test_details_beneath_the_row():
    df = pd.DataFrame({"claim": ["C1", "C2"], "summary": ["Mixed: r = 0.3.", "Supported."],
                       "evidence": ["a long paragraph " * 20, None]})
    t = Table(df, details=["evidence"], rename={"evidence": "Findings"})
    assert t.cells()[0] == ["claim", "summary"]
    html = t.to_html()
    assert html.count("<details>") == 1 and '<td colspan="2"><details>' in html
    assert "<strong>Findings:</strong> a long paragraph" in html
    assert "C1 -- Findings: a long paragraph" in t.to_markdown()
    assert "C1 -- Findings: a long paragraph" in t.to_latex()
    with pytest.raises(KeyError, match="details"):
        Table(df, details=["nope"])


@pytest.mark.parametrize("ncols, widths, expected", [
    (4, [10, 0, 0, 0], ("tabular", False)),
    (4, [120, 0, 0, 0], ("tabularx", False)),
    (7, [10] * 7, ("tabularx", False)),
    (13, [10] * 13, ("tabularx", True)),
])
def test_latex_layout(ncols, widths, expected):
    from ketameta.outputs.tables import latex_layout

    assert latex_layout(ncols, widths) == expected


def test_latex_compact_columns_drop_empty_and_go_sideways():
    from ketameta.outputs.tables import LATEX_LANDSCAPE_COLUMNS

    n = LATEX_LANDSCAPE_COLUMNS + 4
    df = pd.DataFrame({f"c{i}": [1.0, 2.0] for i in range(n)})
    df["empty"] = [np.nan, np.nan]
    wide = Table(df).to_latex()
    assert "\\begin{sidewaystable}" in wide and "\\begin{tabularx}{\\linewidth}" in wide
    check_latex_structure(wide, n)  # the all-empty column is dropped from the LaTeX table
    assert "empty" in Table(df).to_markdown()
    compact = Table(df, latex_columns=["c0", "c1", "c2", "empty"]).to_latex()
    assert "\\begin{table}" in compact and "\\begin{tabular}{@{}rrr@{}}" in compact
    check_latex_structure(compact, 3)
