# Reference fits for tests/analysis/test_models.py: R's ordinal::clmm (Laplace, the default)
# on the crossed practitioner x vignette data made by crossed_clmm.py.
# Run from this directory:  Rscript crossed_clmm.R   (writes crossed_clmm_r.csv)
#
# Each data set is fitted twice:
#   "default": the model as written, with clmm's default controls; timed with system.time
#              (the benchmark's R time). On the 1,152 judgements this stops short of the
#              optimum (max |gradient| ~5: years and position are on large scales).
#   "scaled":  the same model with years_experience and position divided by 10, which lets
#              clmm converge; its coefficients and SEs for those two are divided by 10 back
#              to the original scale. This is the reference the tests compare with.
suppressPackageStartupMessages(library(ordinal))
rhs <- "domestic_abuse + parental_mental_health + substance_misuse + neglect + prior_referral +
  child_age + profession + %s + %s + (1 | rater_id) + (1 | vignette_id)"
forms <- list(default = as.formula(paste("need_level ~", sprintf(rhs, "years_experience", "position"))),
              scaled = as.formula(paste("need_level ~", sprintf(rhs, "I(years_experience / 10)",
                                                                 "I(position / 10)"))))
out <- list()
for (name in c("1152", "288")) {
  d <- read.csv(sprintf("crossed_clmm_%s.csv", name), stringsAsFactors = TRUE)
  d$need_level <- factor(d$need_level, ordered = TRUE)
  for (fit_name in names(forms)) {
    tm <- system.time(fit <- clmm(forms[[fit_name]], data = d))
    co <- coef(summary(fit))
    est <- co[, 1]; se <- co[, 2]
    back <- grepl("/10", rownames(co), fixed = TRUE)
    est[back] <- est[back] / 10; se[back] <- se[back] / 10
    terms <- sub("I\\((.*)/10\\)", "\\1", rownames(co))
    sds <- sapply(VarCorr(fit), function(v) attr(v, "stddev"))
    out[[paste(name, fit_name)]] <- rbind(
      data.frame(data = name, fit = fit_name, term = terms,
                 kind = ifelse(grepl("|", terms, fixed = TRUE), "threshold", "fixed"),
                 estimate = est, se = se),
      data.frame(data = name, fit = fit_name, term = sub("\\..*", "", names(sds)), kind = "sd",
                 estimate = unname(sds), se = NA),
      data.frame(data = name, fit = fit_name,
                 term = c("logLik", "elapsed_seconds", "user_seconds", "max_gradient"), kind = "fit",
                 estimate = c(as.numeric(logLik(fit)), tm[["elapsed"]], tm[["user.self"]],
                              max(abs(fit$gradient))), se = NA))
  }
}
res <- do.call(rbind, out)
write.csv(res, "crossed_clmm_r.csv", row.names = FALSE)
print(res[res$kind == "fit", ], digits = 7)
cat(R.version.string, "ordinal", as.character(packageVersion("ordinal")), "\n")
