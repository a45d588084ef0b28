# Reference for tests/analysis/test_models.py: R ordinal::clmm with adaptive Gauss-Hermite
# quadrature (nAGQ = 10) on the wine data (Randall 1989, as shipped with R's ordinal).
# Run from this directory:  Rscript wine_agq.R
suppressPackageStartupMessages(library(ordinal))
wine <- read.csv("wine.csv", stringsAsFactors = TRUE)
wine$rating <- factor(wine$rating, ordered = TRUE)
fit <- clmm(rating ~ temp + contact + (1 | judge), data = wine, nAGQ = 10)
print(coef(summary(fit)), digits = 7)
print(sapply(VarCorr(fit), function(v) attr(v, "stddev")), digits = 7)
print(logLik(fit), digits = 10)
