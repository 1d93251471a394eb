"""The self-contained HTML report: structure, escaping, embedded figures, failed sections."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from ketameta.outputs import figures as F
from ketameta.outputs.citations import Citations
from ketameta.outputs.report import FigureRef, Section, build_report, references_section, render_report
from ketameta.outputs.tables import Table

XSS = "<script>alert(1)</script>"

BIB = r"""
@article{berman2000, author = {Berman, Robert M.}, title = {Antidepressant effects of ketamine},
  journal = {Biol Psychiatry}, year = {2000}}
@article{weird2020, author = {{<script>alert(1)</script> Group}}, title = {T \& U}, journal = {J}, year = {2020}}
"""


class Doc(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.tags, self.stack, self.attrs = [], [], []
        self.headings, self._h = [], None
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3", "h4"):
            self._h = [tag, ""]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()
        if self._h and tag == self._h[0]:
            self.headings.append((tag, " ".join(self._h[1].split())))
            self._h = None

    def handle_data(self, data):
        self.text.append(data)
        if self._h:
            self._h[1] += data


def parse(html):
    d = Doc()
    d.feed(html)
    d.close()
    assert d.stack == [], f"unclosed {d.stack}"
    return d


@pytest.fixture
def figs(tmp_path):
    rows = pd.DataFrame(
        {"label": ["A 2000", XSS], "yi": [0.3, 0.1], "ci_lb": [0.1, -0.2], "ci_ub": [0.5, 0.4]}
    )
    forest = F.savefig_all(F.forest(rows, xlabel="r"), tmp_path / "forest")
    rng = np.random.default_rng(0)
    se = rng.uniform(0.1, 0.3, 10)
    funnel = F.savefig_all(
        F.funnel(rng.normal(0, se), se, 0.0), tmp_path / "funnel", formats=("png",)
    )
    return {"forest": forest, "funnel": funnel[0]}


@pytest.fixture
def cit(tmp_path):
    p = tmp_path / "refs.bib"
    p.write_text(BIB, encoding="utf-8")
    return Citations(p)


def sections(figs, cit):
    claims = Table(
        pd.DataFrame({"claim": [f"Dissociation & response {XSS}"], "k": [5], "r": [0.3]}),
        title="Claims",
        notes=[f"note {XSS} 50% & _x_"],
        citations=cit,
        citekeys=["weird2020"],
    )
    return [
        Section("Claims", tables=[claims]),
        {
            "title": "Dissociation & response",
            "paragraphs": [f"Paragraph {XSS} & more"],
            "methods": "Fisher-z random effects (REML), Knapp–Hartung <b>test</b>.",
            "figures": [FigureRef(figs["forest"][0], caption=f"Forest {XSS}"), figs["funnel"]],
            "tables": [claims.to_html()],
            "subsections": [{"title": "Leave-one-out", "paragraphs": ["ok"]}],
        },
        Section("Durability", status="failed", reason=f"k = 1; needs 2 {XSS}"),
        Section("Effect direction", status="skipped", reason="no direction-only studies"),
        Section("Data gaps", items=[f"Berman 2000: SD at day 7 {XSS}"]),
        Section("Dissociation & response"),  # duplicate title -> unique id
        references_section(cit, ["berman2000", "weird2020"]),
    ]


def test_report_structure_and_escaping(tmp_path, figs, cit):
    out = build_report(
        sections(figs, cit),
        f"Ketamine {XSS}",
        tmp_path / "report.html",
        subtitle="Living review",
        meta={"Data": f"v1 {XSS}"},
        footer="built",
    )
    html = out.read_text(encoding="utf-8")
    d = parse(html)
    # nothing from data became markup
    assert "script" not in d.tags and "b" not in d.tags
    text = "".join(d.text)
    for needle in (
        f"Ketamine {XSS}",
        f"Paragraph {XSS} & more",
        f"note {XSS} 50% & _x_",
        f"k = 1; needs 2 {XSS}",
        f"Berman 2000: SD at day 7 {XSS}",
        f"Forest {XSS}",
        "Fisher-z random effects (REML), Knapp–Hartung <b>test</b>.",
        f"v1 {XSS}",
    ):
        assert needle in text, needle
    # headings in the given order, after the title and the contents
    h2 = [t for tag, t in d.headings if tag == "h2"]
    assert h2 == [
        "Contents",
        "Claims",
        "Dissociation & response",
        "Durability failed",
        "Effect direction skipped",
        "Data gaps",
        "Dissociation & response",
        "References",
    ]
    assert ("h3", "Leave-one-out") in d.headings
    assert d.headings[0] == ("h1", f"Ketamine {XSS}")
    # table of contents links resolve to unique ids
    ids = [a["id"] for _, a in d.attrs if "id" in a]
    assert len(ids) == len(set(ids))
    links = [
        a["href"][1:] for tag, a in d.attrs if tag == "a" and a.get("href", "").startswith("#")
    ]
    assert set(links) <= set(ids) and "dissociation-response-2" in links
    # the failed analysis is announced at the top
    assert html.index("1 analysis failed") < html.index("<main>")
    # self-contained: CSP, inline CSS, images as data URIs, no external resources
    assert "Content-Security-Policy" in html and "<style>" in html
    imgs = [a for tag, a in d.attrs if tag == "img"]
    assert len(imgs) == 2
    assert imgs[0]["src"].startswith(
        "data:image/svg+xml;base64,"
    )  # .pdf path -> the .svg next to it
    assert imgs[1]["src"].startswith("data:image/png;base64,")
    svg = base64.b64decode(imgs[0]["src"].split(",", 1)[1])
    assert svg == figs["forest"][1].read_bytes()
    assert int(imgs[0]["width"]) == round(F.WIDTHS["single"] * 96 * 1.5)
    assert all(tag not in d.tags for tag in ("link", "script", "iframe", "object", "embed"))
    for tag, a in d.attrs:
        for key in ("src", "srcset", "data"):
            if key in a:
                assert a[key].startswith("data:"), (tag, a)
    # references rendered by pybtex, escaped
    assert "<li><strong>&lt;script&gt;alert(1)&lt;/script&gt; Group 2020</strong>" in html


def test_render_report_figures_from_stem_and_errors(tmp_path, figs):
    stem = figs["forest"][0].with_suffix("")
    html = render_report([Section("F", figures=[stem])], "t")
    assert "data:image/svg+xml;base64," in html
    with pytest.raises(FileNotFoundError):
        render_report([Section("F", figures=[tmp_path / "nope.svg"])], "t")
    with pytest.raises(FileNotFoundError):
        render_report([Section("F", figures=[tmp_path / "nope"])], "t")
    bad = tmp_path / "bad.svg"
    bad.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    with pytest.raises(ValueError, match="script"):
        render_report([Section("F", figures=[bad])], "t")


def test_section_validation():
    with pytest.raises(ValueError, match="status"):
        Section("x", status="broken")
    with pytest.raises(ValueError, match="unknown section key"):
        render_report([{"title": "x", "colour": "red"}], "t")
    with pytest.raises(ValueError, match="duplicate section id"):
        render_report([Section("a", id="x"), Section("b", id="x")], "t")
    with pytest.raises(ValueError, match="invalid section id"):
        render_report([Section("a", id='x" onclick="y')], "t")
    s = Section("x", paragraphs="one paragraph", tables="<p>t</p>")
    assert s.paragraphs == ["one paragraph"] and s.tables == ["<p>t</p>"]


def test_tables_from_paths(tmp_path):
    t = Table(pd.DataFrame({"a": [1.5]}), title="T")
    t.to_html(tmp_path / "t.html")
    html = render_report([Section("S", tables=[tmp_path / "t.html", t])], "r")
    assert html.count('<div class="km-table">') == 2
    with pytest.raises(TypeError, match="pathlib.Path"):
        render_report([Section("S", tables=[str(tmp_path / "t.html")])], "r")


def test_no_failed_banner_when_all_ok(tmp_path):
    html = render_report([Section("a"), Section("b", status="skipped", reason="k < 2")], "t")
    assert 'class="km-alert"' not in html and "analysis failed" not in html
    assert "skipped</span>" in html and "Not run.</strong> k &lt; 2" in html


def test_build_is_atomic(tmp_path, figs):
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        build_report([Section("F", figures=[tmp_path / "missing.svg"])], "t", target)
    assert target.read_text(encoding="utf-8") == "previous report"
