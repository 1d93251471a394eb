"""The HTML report renders in a real browser: images load, no console errors, headings present.

Needs Chromium (skipped without it unless KETAMETA_REQUIRE_BROWSER=1); see conftest.py for how
the check works.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ketameta.outputs import figures as F
from ketameta.outputs.report import FigureRef, Section, build_report
from ketameta.outputs.tables import Table

from .conftest import check_rendered

pytestmark = pytest.mark.browser

XSS = "<script>console.error('injected')</script>"


def _report(tmp_path):
    rows = pd.DataFrame(
        {
            "label": ["Luckenbaugh et al. 2014", "Niciu et al. 2018", XSS],
            "yi": [0.35, 0.10, 0.2],
            "ci_lb": [0.17, -0.2, -0.1],
            "ci_ub": [0.51, 0.4, 0.5],
            "weight": [50.0, 30.0, 20.0],
        }
    )
    pooled = [{"label": "Random effects", "estimate": 0.25, "ci_lb": 0.1, "ci_ub": 0.4}]
    forest = F.savefig_all(F.forest(rows, pooled, xlabel="r"), tmp_path / "fig" / "forest")
    prisma = F.savefig_all(
        F.prisma(
            {
                "database_results": 120,
                "records_screened": 100,
                "records_excluded": 80,
                "dbr_sought_reports": 20,
                "dbr_notretrieved_reports": 1,
                "dbr_assessed": 19,
                "dbr_excluded": {"No dissociation measure": 12},
                "new_studies": 7,
                "new_reports": 7,
            }
        ),
        tmp_path / "fig" / "prisma",
        formats=("png",),
    )
    t = np.array([40 / 1440, 1, 3, 7, 1, 7])
    y = np.array([1.0, 0.8, 0.5, 0.2, 0.9, 0.3])
    dur = F.savefig_all(
        F.durability(t, y, y - 0.3, y + 0.3, ["A"] * 4 + ["B"] * 2),
        tmp_path / "fig" / "dur",
        formats=("svg",),
    )
    table = Table(
        rows[["label", "yi", "ci_lb", "ci_ub"]],
        title="Dissociation and response",
        ci={"r [95% CI]": ("yi", "ci_lb", "ci_ub")},
        notes=[f"k = 3; {XSS}"],
    )
    sections = [
        Section("Claims", tables=[table]),
        Section(
            "Dissociation and response",
            figures=[FigureRef(forest[0], "Forest plot")],
            tables=[table.to_html()],
            methods="Fisher-z random effects, REML, Knapp–Hartung.",
            paragraphs=[XSS],
        ),
        Section("Durability", figures=[dur[0]]),
        Section("Study flow", figures=[FigureRef(prisma[0], "PRISMA 2020 flow diagram")]),
        Section("Meta-regression", status="failed", reason="k = 2 < 3 studies"),
        Section("Data gaps", items=["Berman 2000: SD at day 7"]),
    ]
    return build_report(sections, "ketameta report", tmp_path / "report.html")


def test_report_renders(tmp_path):
    path = _report(tmp_path)
    expected = [
        "ketameta report",
        "Contents",
        "Claims",
        "Dissociation and response",
        "Durability",
        "Study flow",
        "Meta-regression",
        "Data gaps",
    ]
    res = check_rendered(path, expected, screenshot=tmp_path / "report.png")
    assert len(res["images"]) == 3
    assert all(i["naturalWidth"] > 0 for i in res["images"])
    assert res["errors"] == [] and res["external_requests"] == []  # the escaped script never ran
    assert res["screenshot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["elapsed"] < 60


def test_checker_catches_broken_pages(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>broken</title></head><body>"
        "<h1>Broken page</h1><p>some text so the screenshot is not blank</p>"
        "<img alt='bad' src='data:image/png;base64,AAAA'>"
        "<img alt='external' src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom'); undefinedFunction();</script>"
        "</body></html>",
        encoding="utf-8",
    )
    with pytest.raises(AssertionError) as ei:
        check_rendered(page, ["Broken page", "Missing heading"])
    msg = str(ei.value)
    assert "image 0 ('bad'" in msg and "image 1 ('external'" in msg
    assert "heading 'Missing heading' not found" in msg
    assert "console.error: boom" in msg
    assert "undefinedFunction" in msg
    assert "external request (the report must work offline): http://127.0.0.1:9/x.png" in msg
