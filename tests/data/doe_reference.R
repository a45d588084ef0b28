# Reference D-efficiencies for tests/test_doe.py, computed independently of dsk in base R.
#
# The design: the full factorial of A (3 levels), B (4), C (2), D (2), listed with the
# last factor varying fastest and codes 0.., keeping the runs where (a + 2b + c + d) mod 3
# is not 1 (32 of 48 runs). The restricted reference: the full factorial without the runs
# where a = 2, b = 3 and c = 1 (46 runs). The model: main effects, A:B and C:D.
#
# R's default treatment contrasts are used on purpose: D-efficiency *ratios* do not depend
# on the coding, so agreement with dsk (orthonormal polynomial contrasts) checks the
# determinants, not a shared coding.
#
# Run: Rscript tests/data/doe_reference.R
full <- expand.grid(d = 0:1, c = 0:1, b = 0:3, a = 0:2)[, c("a", "b", "c", "d")]
design <- full[(full$a + 2 * full$b + full$c + full$d) %% 3 != 1, ]
restricted <- full[!(full$a == 2 & full$b == 3 & full$c == 1), ]

info <- function(runs, formula) {
  f <- runs
  for (v in names(f)) f[[v]] <- factor(runs[[v]], levels = sort(unique(full[[v]])))
  x <- model.matrix(formula, f)
  list(logdet = as.numeric(determinant(crossprod(x) / nrow(x))$modulus), p = ncol(x))
}
eff <- function(runs, ref, formula) {
  a <- info(runs, formula)
  b <- info(ref, formula)
  exp((a$logdet - b$logdet) / a$p)
}
main <- ~ a + b + c + d
inter <- ~ a + b + c + d + a:b + c:d
cat("rows kept:", which((full$a + 2 * full$b + full$c + full$d) %% 3 != 1) - 1, "\n")
cat(sprintf("interactions, against the full factorial: %.15f\n", eff(design, full, inter)))
cat(sprintf("main effects, against the full factorial: %.15f\n", eff(design, full, main)))
cat(sprintf("interactions, against the restricted set: %.15f\n", eff(design, restricted, inter)))
cat(sprintf("main effects, against the restricted set: %.15f\n", eff(design, restricted, main)))
