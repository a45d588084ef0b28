# Reference values for tests/analysis/test_variance.py: crossed random intercepts by REML with
# lme4 (Bates, Maechler, Bolker and Walker 2015). Run from this folder:
#   Rscript variance_lme4.R
# It prints, per fit, the variance of the vignette and rater intercepts, the residual variance,
# the fixed effects and the REML criterion, to 10 significant digits.
#
# Data (this folder):
#   variance_deck.csv     simulated deck design: 40 vignettes, 24 practitioners, each sees 16
#                         vignettes in a random order (position 1-16), levels 1-4
#   variance_singular.csv 15 vignettes, 8 raters, decks of 8, no rater effect (a boundary fit)
#   Shrout and Fleiss (1979), Table 2: 6 targets x 4 judges, typed in below
suppressPackageStartupMessages(library(lme4))
show <- function(label, fit) {
  vc <- as.data.frame(VarCorr(fit))
  cat(label, "\n")
  for (i in seq_len(nrow(vc))) cat(sprintf("  var %-12s %.10g\n", vc$grp[i], vc$vcov[i]))
  fe <- fixef(fit)
  for (i in seq_along(fe)) cat(sprintf("  fixef %-22s %.10g\n", names(fe)[i], fe[i]))
  cat(sprintf("  REML criterion %.10g\n  singular %s\n", REMLcrit(fit), isSingular(fit)))
}
deck <- read.csv("variance_deck.csv")
show("deck: need_level ~ 1 + (1|rater_id) + (1|vignette_id)",
     lmer(need_level ~ 1 + (1 | rater_id) + (1 | vignette_id), data = deck, REML = TRUE))
show("deck: need_level ~ position + profession + (1|rater_id) + (1|vignette_id)",
     lmer(need_level ~ position + profession + (1 | rater_id) + (1 | vignette_id), data = deck,
          REML = TRUE))
singular <- read.csv("variance_singular.csv")
show("singular: need_level ~ 1 + (1|rater_id) + (1|vignette_id)",
     lmer(need_level ~ 1 + (1 | rater_id) + (1 | vignette_id), data = singular, REML = TRUE))
sf <- matrix(c(9, 2, 5, 8, 6, 1, 3, 2, 8, 4, 6, 8, 7, 1, 2, 6, 10, 5, 6, 9, 6, 2, 4, 7),
             nrow = 6, byrow = TRUE)
sf_long <- data.frame(target = factor(rep(1:6, each = 4)), judge = factor(rep(1:4, 6)),
                      score = as.vector(t(sf)))
show("Shrout-Fleiss: score ~ 1 + (1|judge) + (1|target)",
     lmer(score ~ 1 + (1 | judge) + (1 | target), data = sf_long, REML = TRUE))
