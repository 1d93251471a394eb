# Generates clubSandwich reference values (CR2 cluster-robust variance, Satterthwaite df,
# HTZ Wald tests) for tests/reference/test_clubsandwich.py, computed by clubSandwich itself
# (coef_test, conf_int, Wald_test, vcovCR) on metafor fits -- not through metafor's robust().
# usage: Rscript make_clubsandwich_fixtures.R OUTDIR   (e.g. ../data/clubsandwich)
# Needs R with metafor, clubSandwich and jsonlite (Debian: r-cran-metafor r-cran-clubsandwich
# r-cran-jsonlite).
suppressMessages({library(metafor); library(clubSandwich); library(jsonlite)})
args <- commandArgs(TRUE); out <- args[1]
dir.create(out, showWarnings = FALSE, recursive = TRUE)
ctl <- list(threshold = 1e-12, tol = 1e-14, maxiter = 10000)
ctl_mv <- list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000)
num <- function(x) unname(as.numeric(x))
case <- function(name, res, cluster, input, call, htz = NULL) {
  ct <- coef_test(res, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  ci <- conf_int(res, vcov = "CR2", cluster = cluster, level = 0.95)
  V <- vcovCR(res, type = "CR2", cluster = cluster)
  exp <- list(coef_names = rownames(res$beta), beta = num(res$beta), se = num(ct$SE),
              tval = num(ct$tstat), df = num(ct$df_Satt), pval = num(ct$p_Satt),
              ci_lb = num(ci$CI_L), ci_ub = num(ci$CI_U), vcov = lapply(seq_len(nrow(V)), function(i) num(V[i, ])))
  if (!is.null(htz)) {
    w <- Wald_test(res, constraints = constrain_zero(htz), vcov = "CR2", cluster = cluster, test = "HTZ")
    exp$htz <- list(btt = htz, Fstat = num(w$Fstat), df_num = num(w$df_num), df_denom = num(w$df_denom),
                    p_val = num(w$p_val))
  }
  write(toJSON(list(name = name, source = list(R = R.version.string,
                                               metafor = as.character(packageVersion("metafor")),
                                               clubSandwich = as.character(packageVersion("clubSandwich"))),
                    input = input, call = call, expected = exp),
               digits = NA, auto_unbox = TRUE, pretty = TRUE),
        file.path(out, paste0(name, ".json")))
}
# three-level model with a categorical moderator (Assink & Wibbelink 2016)
a <- dat.assink2016
ain <- list(yi = num(a$yi), vi = num(a$vi), study = a$study, esid = a$esid, year = num(a$year),
            deltype = as.character(a$deltype))
res <- rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid, data = a, control = ctl_mv)
case("assink2016_deltype", res, a$study, ain,
     list(model = "rma.mv", mods = "~ deltype", random = "~ 1 | study/esid", cluster = "study"), htz = 2:3)
res <- rma.mv(yi, vi, mods = ~ year + deltype, random = ~ 1 | study/esid, data = a, control = ctl_mv)
case("assink2016_year_deltype", res, a$study, ain,
     list(model = "rma.mv", mods = "~ year + deltype", random = "~ 1 | study/esid", cluster = "study"), htz = 2:4)
# the same with correlated sampling errors within a study (clubSandwich's own imputation, r = 0.6)
V <- impute_covariance_matrix(a$vi, cluster = a$study, r = 0.6)
res <- rma.mv(yi, V, mods = ~ year, random = ~ 1 | study/esid, data = a, control = ctl_mv)
case("assink2016_year_r06", res, a$study, ain,
     list(model = "rma.mv", mods = "~ year", random = "~ 1 | study/esid", cluster = "study",
          V = "impute_covariance_matrix(vi, cluster = study, r = 0.6)"))
# rma.uni (independent effects, clustered by grade) with two moderators
b <- dat.bangertdrowns2004; b <- b[!is.na(b$length) & !is.na(b$feedback), ]
bin <- list(yi = num(b$yi), vi = num(b$vi), length = num(b$length), feedback = num(b$feedback), grade = b$grade)
res <- rma(yi, vi, mods = ~ length + feedback, data = b, control = ctl)
case("bangertdrowns2004_length_feedback", res, b$grade, bin,
     list(model = "rma.uni", mods = "~ length + feedback", method = "REML", cluster = "grade"), htz = 2:3)
