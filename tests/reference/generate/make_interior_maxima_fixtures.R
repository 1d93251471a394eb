# metafor's REML and ML fits of data sets whose (restricted) likelihood has a local maximum at
# tau^2 = 0 and a higher one inside, for tests/reference/test_interior_maxima.py.
# The data sets (../data/interior_maxima/interior_maxima.csv) are 17 of the 100,000 random-effects data
# sets of benchmarks/rma_batch.py (numpy seed 20261201, k = 20, V ~ U(0.01, 0.2), tau^2 = 0.05):
# the 11 where the REML score is <= 0 at tau^2 = 0 and an interior maximum is higher, and the
# first 6 such for ML. metafor's Fisher scoring starts inside and reaches the interior maximum.
# usage: Rscript make_interior_maxima_fixtures.R ../data/interior_maxima
# Needs R with metafor and jsonlite (Debian: r-cran-metafor r-cran-jsonlite).
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(TRUE); out <- args[1]
d <- read.csv(file.path(out, "interior_maxima.csv"))
ctl <- list(threshold = 1e-12, maxiter = 10000)
cases <- list()
for (s in unique(d$set)) {
  x <- d[d$set == s, ]
  for (method in c("REML", "ML")) {
    f <- rma(yi, vi, data = x, method = method, control = ctl)
    f0 <- rma(yi, vi, data = x, method = method, tau2 = 0)
    cases[[length(cases) + 1]] <- list(
      set = s, found_by = x$found_by[1], method = method, tau2 = f$tau2, beta = unname(as.numeric(f$beta)),
      se = f$se, ll = unname(f$fit.stats[ifelse(method == "REML", "ll", "ll"), method]),
      ll_at_zero = unname(f0$fit.stats["ll", method]))
  }
}
write(toJSON(list(source = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                control = ctl), cases = cases),
             digits = NA, auto_unbox = TRUE, pretty = TRUE),
      file.path(out, "interior_maxima.json"))
