"""Run every benchmark module and print one table: ``python -m benchmarks [NAME ...]``.

On a terminal the table is drawn by rich; otherwise (``make bench > log``, a
pipe, CI) it is printed as a Markdown table that is never wrapped, whatever
the width of the output.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from typing import TextIO

from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks._harness import COLUMNS, LEFT, Row, markdown_table


def print_table(rows: list[Row], console: Console, stream: TextIO) -> None:
    """Print the table with rich on a terminal, else as Markdown on ``stream``."""
    if not console.is_terminal:
        stream.write(markdown_table(rows) + "\n")
        return
    table = Table(title="dsk benchmarks")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in LEFT else "right")
    for row in rows:
        table.add_row(*row.cells())
    console.print(table)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    failed = 0
    console = Console()
    rows: list[Row] = []
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted and name not in wanted:
            continue
        console.print(f"[dim]running {name} ...[/dim]")
        try:
            rows += importlib.import_module(f"benchmarks.{name}").run()
        except Exception:  # noqa: BLE001 - report and carry on with the others
            traceback.print_exc()
            failed += 1
            continue
    print_table(rows, console, sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
