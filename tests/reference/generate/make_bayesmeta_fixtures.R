# Reference values from R bayesmeta 3.4 (Roever 2020, JSS 93(6)) for ketameta's Bayesian random-effects
# model. usage: Rscript make_bayesmeta_fixtures.R <out_dir> (needs R packages bayesmeta, metafor, jsonlite)
#
# The first four cases are the shared set (unchanged output format). The extended cases below them add
# an "extra" block (quantiles, densities, shrinkage sd/median/intervals, the predictive central interval)
# and a "ketameta" entry in "call" naming the equivalent ketameta tau_prior.
#
# bayesmeta 3.4 is not in Debian; it was built from the CRAN source (github.com/cran/bayesmeta, tag
# 3.4) with R CMD INSTALL, after its dependency forestplot 3.1.6 (github.com/cran/forestplot), on
# Debian 12 with r-base-core 4.2.2, r-cran-metafor 3.8-1, r-cran-mvtnorm, r-cran-numderiv,
# r-cran-jsonlite, r-cran-checkmate and r-cran-abind.
suppressMessages({library(bayesmeta); library(jsonlite)})
args <- commandArgs(TRUE); shared <- args[1]
num <- function(x) if (length(x) == 0) NA else unname(as.numeric(x))
prior_fun <- function(p) switch(p$type,
  halfnormal = function(t) dhalfnormal(t, scale = p$scale),
  halfcauchy = function(t) dhalfcauchy(t, scale = p$scale),
  lomax      = function(t) dlomax(t, shape = 1, scale = p$scale),
  uniform    = "uniform",
  jeffreys   = "Jeffreys",
  turner     = TurnerEtAlPrior(p$outcome, p$comparator1, p$comparator2)$dprior,
  turner_any = TurnerEtAlPrior()$dprior,
  rhodes     = RhodesEtAlPrior(p$outcome, p$comparator1, p$comparator2)$dprior,
  rhodes_any = RhodesEtAlPrior()$dprior)
write_case <- function(dir, name, y, s, tau_prior, mu_prior = NULL, ketameta = NULL) {
  mu.prior <- if (is.null(mu_prior)) c("mean" = NA, "sd" = NA) else c("mean" = mu_prior$mean, "sd" = mu_prior$sd)
  bm <- bayesmeta(y = y, sigma = s, tau.prior = prior_fun(tau_prior), mu.prior = mu.prior)
  sm <- bm$summary
  ci_c <- function(which) num(if (which == "tau") bm$post.interval(tau.level = 0.95, method = "central")
                              else bm$post.interval(mu.level = 0.95, method = "central"))
  out <- list(
    name = name, tool = "bayesmeta", version = as.character(packageVersion("bayesmeta")),
    input = list(yi = y, vi = s^2),
    call = list(tau_prior = tau_prior, mu_prior = mu_prior),
    expected = list(
      tau = list(mode = num(sm["mode", "tau"]), median = num(sm["median", "tau"]), mean = num(sm["mean", "tau"]),
                 sd = num(sm["sd", "tau"]), shortest95 = num(sm[c("95% lower", "95% upper"), "tau"]),
                 central95 = ci_c("tau")),
      mu = list(mode = num(sm["mode", "mu"]), median = num(sm["median", "mu"]), mean = num(sm["mean", "mu"]),
                sd = num(sm["sd", "mu"]), shortest95 = num(sm[c("95% lower", "95% upper"), "mu"]),
                central95 = ci_c("mu"), p_gt_0 = 1 - num(bm$pposterior(mu = 0))),
      theta_new = list(median = num(sm["median", "theta"]), mean = num(sm["mean", "theta"]), sd = num(sm["sd", "theta"]),
                       shortest95 = num(sm[c("95% lower", "95% upper"), "theta"])),
      shrinkage_mean = num(bm$theta["mean", ]),
      bayes_factor_tau0 = num(bm$bayesfactor[1, "tau=0"]),
      marginal_loglik = num(log(bm$marginal.likelihood))
    ))
  if (!is.null(ketameta)) {
    out$call$ketameta <- ketameta
    out$source <- list(r = R.version.string, bayesmeta = as.character(packageVersion("bayesmeta")),
                       metafor = as.character(packageVersion("metafor")), delta = bm$delta, epsilon = bm$epsilon)
    out$expected$theta_new$mode <- num(sm["mode", "theta"])
    out$expected$theta_new$central95 <- num(bm$post.interval(mu.level = 0.95, method = "central", predict = TRUE))
    p <- c(0.025, 0.1, 0.5, 0.9, 0.975)
    tq <- c(0.1, 0.5, 1) * max(num(sm["median", "tau"]), 0.05)
    mq <- num(sm["median", "mu"]) + c(-1, 0, 1) * num(sm["sd", "mu"])
    out$extra <- list(
      p = p, tau_quantiles = num(bm$qposterior(tau.p = p)), mu_quantiles = num(bm$qposterior(mu.p = p)),
      theta_new_quantiles = num(bm$qposterior(mu.p = p, predict = TRUE)),
      tau_at = tq, tau_cdf = num(bm$pposterior(tau = tq)), tau_density = num(bm$dposterior(tau = tq)),
      mu_at = mq, mu_cdf = num(bm$pposterior(mu = mq)), mu_density = num(bm$dposterior(mu = mq)),
      shrinkage_sd = num(bm$theta["sd", ]), shrinkage_median = num(bm$theta["median", ]),
      shrinkage_mode = num(bm$theta["mode", ]),
      shrinkage_shortest95_lower = num(bm$theta["95% lower", ]),
      shrinkage_shortest95_upper = num(bm$theta["95% upper", ]),
      tau_prior_proper = bm$tau.prior.proper, n_support = nrow(bm$support),
      support_tau = num(bm$support[, "tau"]), support_weight = num(bm$support[, "weight"]))
  }
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), file.path(dir, paste0(name, ".json")))
}
data(CrinsEtAl2014)
es <- metafor::escalc(measure = "OR", ai = exp.AR.events, n1i = exp.total, ci = cont.AR.events, n2i = cont.total, data = CrinsEtAl2014)
y <- as.numeric(es$yi); s <- sqrt(as.numeric(es$vi))
# shared: the documented example (Roever 2020, JSS, sec. 3) under four priors
write_case(shared, "crins2014_halfnormal05", y, s, list(type = "halfnormal", scale = 0.5))
write_case(shared, "crins2014_halfcauchy05", y, s, list(type = "halfcauchy", scale = 0.5))
write_case(shared, "crins2014_halfnormal05_mu_normal", y, s, list(type = "halfnormal", scale = 0.5), list(mean = 0, sd = 4))
write_case(shared, "crins2014_two_studies", y[1:2], s[1:2], list(type = "halfnormal", scale = 0.5))

# -- extended cases ---------------------------------------------------------------------------------------
hn <- function(x) list(type = "halfnormal", scale = x); hc <- function(x) list(type = "halfcauchy", scale = x)
lx <- function(x) list(type = "lomax", scale = x); N <- function(m, s) list(mean = m, sd = s)
write_case(shared, "crins2014_lomax05", y, s, lx(0.5), ketameta = list("lomax", 0.5))
write_case(shared, "crins2014_lomax05_mu_normal", y, s, lx(0.5), N(0, 4), ketameta = list("lomax", 0.5))
write_case(shared, "crins2014_uniform", y, s, list(type = "uniform"), ketameta = "uniform")
write_case(shared, "crins2014_jeffreys", y, s, list(type = "jeffreys"), ketameta = "jeffreys")
write_case(shared, "crins2014_jeffreys_mu_normal", y, s, list(type = "jeffreys"), N(-1, 2), ketameta = "jeffreys")
write_case(shared, "crins2014_halfcauchy025", y, s, hc(0.25), ketameta = list("halfcauchy", 0.25))
write_case(shared, "crins2014_halfcauchy1", y, s, hc(1), ketameta = list("halfcauchy", 1))
write_case(shared, "crins2014_halfcauchy1_mu_normal", y, s, hc(1), N(0, 4), ketameta = list("halfcauchy", 1))
write_case(shared, "crins2014_halfnormal1_mu_normal_offset", y, s, hn(1), N(-2, 0.5), ketameta = list("halfnormal", 1))
write_case(shared, "crins2014_turner_general", y, s, list(type = "turner_any"), N(0, 4), ketameta = "turner2015_general")
write_case(shared, "crins2014_turner_surgical", y, s,
           list(type = "turner", outcome = "surgical / device related success / failure",
                comparator1 = "pharmacological", comparator2 = "placebo / control"),
           N(0, 4), ketameta = "turner2015_pharma_vs_placebo_surgical_device")
# k = 1, 2, 3
write_case(shared, "crins2014_one_study_halfnormal05", y[1], s[1], hn(0.5), ketameta = list("halfnormal", 0.5))
write_case(shared, "crins2014_one_study_halfcauchy05_mu_normal", y[1], s[1], hc(0.5), N(0, 4), ketameta = list("halfcauchy", 0.5))
write_case(shared, "crins2014_two_studies_jeffreys", y[c(1, 5)], s[c(1, 5)], list(type = "jeffreys"), ketameta = "jeffreys")
write_case(shared, "crins2014_two_studies_halfnormal05_mu_normal", y[c(1, 5)], s[c(1, 5)], hn(0.5), N(0, 4),
           ketameta = list("halfnormal", 0.5))
write_case(shared, "crins2014_three_studies_halfcauchy05", y[1:3], s[1:3], hc(0.5), ketameta = list("halfcauchy", 0.5))
write_case(shared, "crins2014_three_studies_lomax1", y[1:3], s[1:3], lx(1), ketameta = list("lomax", 1))
# eight schools (Rubin 1981), as in the bayesmeta vignette
data(Rubin1981)
write_case(shared, "rubin1981_halfcauchy25_mu_normal", Rubin1981$effect, Rubin1981$stderr, hc(25), N(0, 50),
           ketameta = list("halfcauchy", 25))
write_case(shared, "rubin1981_uniform", Rubin1981$effect, Rubin1981$stderr, list(type = "uniform"), ketameta = "uniform")
# larger k: 30 simulated log odds ratios (seeded; the values are stored in the fixture)
set.seed(20240215)
s30 <- runif(30, 0.15, 0.6); y30 <- rnorm(30, -0.4, sqrt(s30^2 + 0.25^2))
write_case(shared, "sim30_halfnormal05", y30, s30, hn(0.5), ketameta = list("halfnormal", 0.5))
write_case(shared, "sim30_halfcauchy05_mu_normal", y30, s30, hc(0.5), N(0, 4), ketameta = list("halfcauchy", 0.5))
write_case(shared, "sim30_uniform", y30, s30, list(type = "uniform"), ketameta = "uniform")
# standardised mean differences (Bangert-Drowns et al. 2004, metadat's dat.bangertdrowns2004, k = 48)
data("dat.bangertdrowns2004", package = "metadat"); bd <- dat.bangertdrowns2004
write_case(shared, "bangertdrowns2004_halfnormal05", as.numeric(bd$yi), sqrt(as.numeric(bd$vi)), hn(0.5),
           ketameta = list("halfnormal", 0.5))
write_case(shared, "bangertdrowns2004_first10_uniform", as.numeric(bd$yi[1:10]), sqrt(as.numeric(bd$vi[1:10])),
           list(type = "uniform"), ketameta = "uniform")
# Note: bayesmeta() 3.4 stops with RhodesEtAlPrior()$dprior ("extremely bad integrand behaviour" /
# "the integral is probably divergent": the log-t density is unbounded, though integrable, as tau -> 0),
# so the Rhodes priors are pinned below by their densities and quantiles only.

# -- prior densities and quantiles (tau scale), for ketameta's presets and families ----------------------
tau <- c(0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5); p <- c(0.025, 0.25, 0.5, 0.75, 0.975)
prior_case <- function(obj, ketameta) list(ketameta = ketameta, tau = tau, density = num(obj$dprior(tau)),
                                           p = p, quantile = num(obj$qprior(p)), label = attr(obj$dprior, "bayesmeta.label"))
pc <- c("pharmacological", "placebo / control")
priors <- list(
  source = list(r = R.version.string, bayesmeta = as.character(packageVersion("bayesmeta"))),
  turner2015_general = prior_case(TurnerEtAlPrior(), "turner2015_general"),
  turner2015_pharma_vs_placebo_surgical_device = prior_case(TurnerEtAlPrior("surgical", pc[1], pc[2]),
                                                            "turner2015_pharma_vs_placebo_surgical_device"),
  turner2015_pharma_vs_placebo_mental_health = prior_case(TurnerEtAlPrior("mental health", pc[1], pc[2]),
                                                          "turner2015_pharma_vs_placebo_mental_health"),
  turner2015_nonpharma_vs_nonpharma_pain = prior_case(
    TurnerEtAlPrior("pain", "non-pharmacological", "non-pharmacological"), "turner2015_nonpharma_vs_nonpharma_pain"),
  rhodes2015_general = prior_case(RhodesEtAlPrior(), "rhodes2015_general"),
  rhodes2015_pharma_vs_placebo_mental_health = prior_case(RhodesEtAlPrior("mental health", pc[1], pc[2]),
                                                          "rhodes2015_pharma_vs_placebo_mental_health"),
  rhodes2015_nonpharma_subjective = prior_case(RhodesEtAlPrior("various subjectively measured outcomes",
                                                               "non-pharmacological", "placebo / control"),
                                               "rhodes2015_nonpharma_subjective"),
  halfnormal05 = list(ketameta = list("halfnormal", 0.5), tau = tau, density = dhalfnormal(tau, scale = 0.5)),
  halfcauchy05 = list(ketameta = list("halfcauchy", 0.5), tau = tau, density = dhalfcauchy(tau, scale = 0.5)),
  lomax05 = list(ketameta = list("lomax", 0.5), tau = tau, density = dlomax(tau, shape = 1, scale = 0.5)))
writeLines(toJSON(priors, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), file.path(shared, "priors.json"))
cat("done\n")
