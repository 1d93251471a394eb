"""Printed summaries laid out like metafor's ``print.rma.uni`` and ``print.rma.mv``.

The text follows metafor 3.8 line by line: the model heading, the heterogeneity block, the test
for (residual) heterogeneity, for cluster-robust results the cluster counts, the test of
moderators, the coefficient table (``estimate, se, zval|tval, [df,] pval, ci.lb, ci.ub`` and
significance stars) and the legend. Numbers are printed as metafor prints them (``formatC(x,
format = "f", digits = 4)``; p-values below 1e-4 as ``<.0001``), tables as R's ``print`` of a
character matrix (``right = TRUE, print.gap = 2``), wrapped at R's default width of 80
characters. ``tests/reference/test_print.py`` compares the text with metafor's for dat.bcg,
dat.konstantopoulos2011 and dat.bangertdrowns2004.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
R Core Team. R: A Language and Environment for Statistical Computing (``print.default``,
    ``symnum``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fcf", "pval", "format_btt", "signif_stars", "print_table", "print_vector",
           "rma_text", "SIGNIF_LEGEND"]

#: R's legend of the significance stars (``symnum``), with the quotes of a UTF-8 locale.
SIGNIF_LEGEND = "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
#: metafor's footnote mark of cluster-robust columns.
FOOT = "\u00b9"
#: R's default line width (``options("width")``).
WIDTH = 80
_EPS10 = float(np.finfo(float).eps) * 10


def fcf(x, digits=4) -> str:
    """A number in fixed notation with ``digits`` decimals, as metafor's ``.fcf`` (``NA`` if missing)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    x = float(x)
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.{digits}f}"


def pval(p, digits=4, showeq=False, sep="") -> str:
    """A p-value as metafor's ``.pval``: ``0.0012``, or ``<.0001`` below the printed precision."""
    cutoff = "." + "0" * (digits - 1) + "1"
    eq = "=" if showeq else ""
    if p is None or not math.isfinite(float(p)):
        return f"{eq}{sep}NA"
    if float(p) >= float(cutoff):
        return f"{eq}{sep}{float(p):.{digits}f}"
    return f"<{sep}{cutoff}"


def format_btt(btt) -> str:
    """Coefficient numbers as metafor's ``.format.btt``: 1-based, runs as ``2:4``."""
    b = sorted(int(i) + 1 for i in btt)
    if len(b) == 1:
        return str(b[0])
    parts, i = [], 0
    while i < len(b):
        j = i
        while j + 1 < len(b) and b[j + 1] == b[j] + 1:
            j += 1
        parts.append(f"{b[i]}:{b[j]}" if j > i else str(b[i]))
        i = j + 1
    return ",".join(parts)


def signif_stars(p) -> str:
    """R's ``symnum`` stars of a p-value (cut points 0.001, 0.01, 0.05, 0.1, right-closed)."""
    if p is None or not math.isfinite(float(p)):
        return ""
    p = float(p)
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def r_number(x) -> str:
    """``as.character`` of a number rounded to 2 decimals (how metafor prints df2 and robust df)."""
    if x is None or not math.isfinite(float(x)):
        return "NA"
    s = f"{round(float(x), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def format_numbers(values, max_decimals=2) -> list[str]:
    """R's ``format`` of a numeric vector rounded to ``max_decimals``: common decimals."""
    vals = [round(float(v), max_decimals) for v in values]
    for d in range(max_decimals + 1):
        if all(math.isclose(round(v, d), v, abs_tol=1e-9) for v in vals):
            break
    return [f"{v:.{d}f}" for v in vals]


def print_vector(names, values, gap=2) -> list[str]:
    """A one-row table as metafor's ``.print.vector``: one header line and one value line, columns right-justified."""
    w = [max(len(n), len(v)) for n, v in zip(names, values)]
    sp = " " * gap
    return [sp.join(n.rjust(k) for n, k in zip(names, w)) + " ",
            sp.join(v.rjust(k) for v, k in zip(values, w)) + " "]


def print_table(rownames, colnames, cells, gap=2, width=WIDTH) -> list[str]:
    r"""R's ``print`` of a character matrix (``quote = FALSE, right = TRUE``), as metafor calls it.

    Row names are left-justified, columns right-justified to the wider of header and cells, and
    the columns are wrapped into blocks when a line would reach ``width`` characters (R's
    ``printMatrix``: the first column of a block always fits, the next only if the line stays
    shorter than ``width``). Each line ends with one blank, as metafor's ``cat(x, "\\n")``.
    """
    rlab = max((len(r) for r in rownames), default=0)
    ncol = len(colnames)
    w = [max([len(colnames[j])] + [len(row[j]) for row in cells]) for j in range(ncol)]
    lines, j0 = [], 0
    while j0 < ncol:
        j1, tot = j0, rlab
        while True:
            tot += w[j1] + gap
            j1 += 1
            if j1 >= ncol or tot + w[j1] + gap >= width:
                break
        cols = range(j0, j1)
        lines.append(" " * rlab + "".join(" " * gap + colnames[j].rjust(w[j]) for j in cols) + " ")
        for r, row in zip(rownames, cells):
            lines.append(r.ljust(rlab) + "".join(" " * gap + row[j].rjust(w[j]) for j in cols) + " ")
        j0 = j1
    return lines


def _var(x, digits) -> str:
    """tau^2 and tau as metafor prints them: 0 decimals when (numerically) zero."""
    return fcf(x, 0 if abs(x) <= _EPS10 else digits)


def _heading(res) -> str:
    if res.method == "EE":
        return f"{res.model_label} (k = {res.k})"
    est = "user-specified tau^2 value" if res.info.get("tau2_fixed") else f"tau^2 estimator: {res.method}"
    return f"{res.model_label} (k = {res.k}; {est})"


def _uni_heterogeneity(res, digits) -> list[str]:
    """tau^2, tau, I^2, H^2 and R^2 lines of ``print.rma.uni``."""
    out = []
    if res.method != "EE":
        se = "" if not math.isfinite(res.se_tau2) else f" (SE = {fcf(res.se_tau2, digits)})"
        tau = _var(math.sqrt(res.tau2), digits) if res.tau2 >= 0 else "NA"
        if res.int_only:
            out += [f"tau^2 (estimated amount of total heterogeneity): {_var(res.tau2, digits)}{se}",
                    f"tau (square root of estimated tau^2 value):      {tau}"]
        else:
            out += [f"tau^2 (estimated amount of residual heterogeneity):     {_var(res.tau2, digits)}{se}",
                    f"tau (square root of estimated tau^2 value):             {tau}"]
    if res.int_only:
        out += [f"I^2 (total heterogeneity / total variability):   {fcf(res.I2, 2)}%",
                f"H^2 (total variability / sampling variability):  {fcf(res.H2, 2)}"]
    else:
        out += [f"I^2 (residual heterogeneity / unaccounted variability): {fcf(res.I2, 2)}%",
                f"H^2 (unaccounted variability / sampling variability):   {fcf(res.H2, 2)}"]
        if res.R2 is not None:
            out.append(f"R^2 (amount of heterogeneity accounted for):            {fcf(res.R2, 2)}%")
    return out + [""]


def _mv_components(res, digits) -> list[str]:
    """The variance-components table of ``print.rma.mv`` (one nesting: cluster/row)."""
    s2 = np.asarray(res.sigma2, dtype=float)
    names = ["sigma^2  "] if s2.size == 1 else [f"sigma^2.{i + 1}" for i in range(s2.size)]
    cells = [[fcf(s, digits), fcf(math.sqrt(s), digits), str(int(n)), "yes" if f else "no", str(fac)]
             for s, n, f, fac in zip(s2, res.s_nlevels, res.sigma2_fixed, res.s_names)]
    return ["Variance Components:", "",
            *print_table(names, ["estim", "sqrt", "nlvls", "fixed", "factor"], cells), ""]


def rma_text(res, robust=None, digits=4) -> str:
    """The printed summary of an :func:`~ketameta.rma` or :func:`~ketameta.rma_mv` fit.

    With ``robust`` (a :class:`~ketameta.robust.RobustResult` of ``res``) the coefficients,
    tests and legend are those of the cluster-robust inference, as metafor prints
    ``robust(res, cluster, clubSandwich = TRUE)``.
    """
    mv = hasattr(res, "sigma2")
    lines = [""]
    if mv:
        lines += [f"Multivariate Meta-Analysis Model (k = {res.k}; method: {res.method})", ""]
        lines += _mv_components(res, digits)
    else:
        lines += [_heading(res), ""]
        lines += _uni_heterogeneity(res, digits)
    if res.QE is not None and math.isfinite(res.QE):
        if res.int_only:
            lines += ["Test for Heterogeneity:",
                      f"Q(df = {res.k - res.p}) = {fcf(res.QE, digits)}, p-val {pval(res.QEp, digits, True, ' ')}"]
        else:
            lines += ["Test for Residual Heterogeneity:",
                      f"QE(df = {res.k - res.p}) = {fcf(res.QE, digits)}, p-val {pval(res.QEp, digits, True, ' ')}"]
        lines.append("")
    src = res if robust is None else robust
    foot = "" if robust is None else FOOT
    if robust is not None:
        sz = np.asarray(robust.cluster_sizes)
        per = (str(int(sz[0])) if (sz == sz[0]).all() else
               f"{sz.min()}-{sz.max()} (mean: {sz.mean():.2f}, median: {r_number(np.median(sz))})")
        lines += [f"Number of estimates:   {robust.k}", f"Number of clusters:    {robust.n_clusters}",
                  f"Estimates per cluster: {per}", ""]
    t_test = robust is not None or res.dfs is not None
    if res.p > 1 and src.QM is not None and math.isfinite(src.QM):
        m = len(src.btt)
        lines.append(f"Test of Moderators (coefficient{' ' if m == 1 else 's '}{format_btt(src.btt)}):{foot}")
        if t_test:
            lines.append(f"F(df1 = {int(src.QMdf[0])}, df2 = {r_number(src.QMdf[1])}) = "
                         f"{fcf(src.QM, digits)}, p-val {pval(src.QMp, digits, True, ' ')}")
        else:
            lines.append(f"QM(df = {int(src.QMdf[0])}) = {fcf(src.QM, digits)}, "
                         f"p-val {pval(src.QMp, digits, True, ' ')}")
        lines.append("")
    # coefficient table
    p = len(src.beta)
    cols = {"estimate": [fcf(b, digits) for b in src.beta], "se": [fcf(s, digits) for s in src.se]}
    if t_test:
        cols["tval"] = [fcf(z, digits) for z in src.zval]
        dfs = np.broadcast_to(np.asarray(src.dfs, dtype=float), (p,))
        cols["df"] = [r_number(d) for d in dfs] if robust is not None else format_numbers(dfs)
    else:
        cols["zval"] = [fcf(z, digits) for z in src.zval]
    cols["pval"] = [pval(q, digits) for q in src.pval]
    cols["ci.lb"] = [fcf(c, digits) for c in src.ci_lb]
    cols["ci.ub"] = [fcf(c, digits) for c in src.ci_ub]
    names = list(cols)
    if robust is not None:  # metafor's .addfootsym: mark the robust columns
        for n in names[1:]:
            cols[n] = [c + " " for c in cols[n]]
        cols = {(n + FOOT if n != "estimate" else n): v for n, v in cols.items()}
        names = list(cols)
    cols[""] = [signif_stars(q) for q in src.pval]
    names.append("")
    cells = [[cols[n][i] for n in names] for i in range(p)]
    lines += ["Model Results:", ""]
    if res.int_only:
        lines += print_vector(names, cells[0])
    else:
        lines += print_table(list(res.coef_names), names, cells)
    lines += ["", "---", SIGNIF_LEGEND]
    if robust is not None:
        what = ("t-test and confidence interval" if res.int_only
                else "t/F-tests and confidence intervals")
        how = "Satterthwaite approx" if robust.adjust == "CR2" else "residual method"
        lines += ["", f"1) results based on cluster-robust inference (var-cov estimator: {robust.adjust},",
                  f"   approx {what}, df: {how})"]
    lines.append("")
    omitted = getattr(res, "omitted", None)
    if omitted:
        lines += [f"{len(omitted)} row(s) with missing values omitted from model fitting: "
                  f"{omitted}", ""]
    return "\n".join(lines)
