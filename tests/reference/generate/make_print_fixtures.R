# Generates the printed summaries of metafor (print.rma.uni, print.rma.mv and their robust()
# versions) that tests/reference/test_print.py compares ketameta's print(res) with, line by line.
# usage: LANG=C.UTF-8 Rscript make_print_fixtures.R OUTDIR   (e.g. ../data/print)
# Each case writes OUTDIR/<name>.txt (the text print() writes, R's default width of 80) and
# OUTDIR/<name>.json (the inputs and the call). Needs R with metafor, clubSandwich and jsonlite
# (Debian: r-base-core r-cran-metafor r-cran-clubsandwich r-cran-jsonlite).
suppressMessages({library(metafor); library(clubSandwich); library(jsonlite)})
args <- commandArgs(TRUE); out <- args[1]
dir.create(out, showWarnings = FALSE, recursive = TRUE)
options(width = 80, show.signif.stars = TRUE)
# tight convergence, so that the printed digits do not depend on where the optimiser stopped
ctl <- list(threshold = 1e-12, tol = 1e-14, maxiter = 10000)
ctl_mv <- list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000)
num <- function(x) unname(as.numeric(x))
write_case <- function(name, res, input, call) {
  text <- capture.output(print(res))
  writeLines(text, file.path(out, paste0(name, ".txt")), useBytes = TRUE)
  write(toJSON(list(name = name, source = list(R = R.version.string,
                                               metafor = as.character(packageVersion("metafor")),
                                               clubSandwich = as.character(packageVersion("clubSandwich"))),
                    input = input, call = call), digits = NA, auto_unbox = TRUE, pretty = TRUE),
        file.path(out, paste0(name, ".json")))
}
d <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg <- list(yi = num(d$yi), vi = num(d$vi), ablat = num(d$ablat), alloc = as.character(d$alloc))
write_case("bcg_REML_z", rma(yi, vi, data = d, control = ctl), bcg, list(method = "REML", test = "z"))
write_case("bcg_REML_knha", rma(yi, vi, data = d, test = "knha", control = ctl), bcg,
           list(method = "REML", test = "knha"))
write_case("bcg_DL_z", rma(yi, vi, data = d, method = "DL"), bcg, list(method = "DL", test = "z"))
write_case("bcg_EE_z", rma(yi, vi, data = d, method = "EE"), bcg, list(method = "EE", test = "z"))
write_case("bcg_REML_z_ablat", rma(yi, vi, mods = ~ ablat, data = d, control = ctl), bcg,
           list(method = "REML", test = "z", mods = "~ ablat"))
write_case("bcg_REML_knha_ablat", rma(yi, vi, mods = ~ ablat, data = d, test = "knha", control = ctl), bcg,
           list(method = "REML", test = "knha", mods = "~ ablat"))
write_case("bcg_EE_z_ablat", rma(yi, vi, mods = ~ ablat, data = d, method = "EE"), bcg,
           list(method = "EE", test = "z", mods = "~ ablat"))
# a categorical moderator (treatment coding, reference level "alternate"): the table is wider
# than 80 characters, so R wraps its columns
write_case("bcg_REML_knha_ablat_alloc", rma(yi, vi, mods = ~ ablat + alloc, data = d, test = "knha", control = ctl),
           bcg, list(method = "REML", test = "knha", mods = "~ ablat + alloc"))
# three-level model and its cluster-robust (CR2) version
k <- dat.konstantopoulos2011
kin <- list(yi = num(k$yi), vi = num(k$vi), district = k$district, school = k$school, year = num(k$year))
res <- rma.mv(yi, vi, random = ~ 1 | district/school, data = k, control = ctl_mv)
write_case("konstantopoulos2011_mv", res, kin, list(method = "REML", random = "~ 1 | district/school"))
write_case("konstantopoulos2011_mv_CR2", robust(res, cluster = k$district, clubSandwich = TRUE), kin,
           list(method = "REML", random = "~ 1 | district/school", robust = "CR2"))
k$yc <- k$year - 1990
res <- rma.mv(yi, vi, mods = ~ yc, random = ~ 1 | district/school, data = k, control = ctl_mv)
write_case("konstantopoulos2011_mv_year", res, kin,
           list(method = "REML", random = "~ 1 | district/school", mods = "~ I(year - 1990)"))
write_case("konstantopoulos2011_mv_year_CR2", robust(res, cluster = k$district, clubSandwich = TRUE), kin,
           list(method = "REML", random = "~ 1 | district/school", mods = "~ I(year - 1990)", robust = "CR2"))
# rma.uni with robust inference (CR2 and metafor's default CR1)
b <- dat.bangertdrowns2004; b <- b[!is.na(b$length), ]
bin <- list(yi = num(b$yi), vi = num(b$vi), length = num(b$length), grade = b$grade)
res <- rma(yi, vi, mods = ~ length, data = b, control = ctl)
write_case("bangertdrowns2004_length_CR2", robust(res, cluster = b$grade, clubSandwich = TRUE), bin,
           list(method = "REML", test = "z", mods = "~ length", robust = "CR2"))
write_case("bangertdrowns2004_length_CR1", robust(res, cluster = b$grade), bin,
           list(method = "REML", test = "z", mods = "~ length", robust = "CR1"))
# trim and fill (metafor refits with its default control inside trimfill)
write_case("bcg_REML_trimfill", trimfill(rma(yi, vi, data = d, control = ctl)), bcg,
           list(method = "REML", test = "z", trimfill = TRUE))
