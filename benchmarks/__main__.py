"""Run every benchmark module and print one table: ``python -m benchmarks [NAME ...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

from rich.console import Console
from rich.table import Table

import benchmarks


def main(argv: list[str]) -> int:
    wanted = set(argv)
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    table = Table(title="dsk benchmarks")
    for col in ("benchmark", "items", "seconds", "per second", "peak MiB", "target", "met"):
        table.add_column(col, justify="left" if col in ("benchmark", "target") else "right")
    failed = 0
    console = Console()
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted and name not in wanted:
            continue
        console.print(f"[dim]running {name} ...[/dim]")
        try:
            rows = importlib.import_module(f"benchmarks.{name}").run()
        except Exception:  # noqa: BLE001 - report and carry on with the others
            traceback.print_exc()
            failed += 1
            continue
        for row in rows:
            met = "" if row.met is None else ("yes" if row.met else "NO")
            table.add_row(row.name, f"{row.items:,}", f"{row.seconds:.3f}", f"{row.per_second:,.0f} {row.unit}/s",
                          f"{row.peak_mib:,.1f}", row.target, met)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
