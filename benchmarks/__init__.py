"""Benchmarks for ``make bench``.

Each ``benchmarks/bench_*.py`` module exposes ``run() -> list[Row]``; the
runner imports them all, prints one table and exits non-zero only when a
benchmark raises. Targets are printed beside the measurements, not asserted:
timings belong here, never in the test suite.
"""
