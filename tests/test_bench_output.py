"""The benchmark table off a terminal: Markdown, one line per row, never wrapped.

Runs the formatter on made-up rows; no benchmark is run here.
"""

from __future__ import annotations

import doctest
import io
import sys
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchmarks._harness as harness  # noqa: E402
from benchmarks.__main__ import print_table  # noqa: E402
from benchmarks._harness import Row, markdown_table  # noqa: E402

ROWS = [
    Row("rules: vector backend on a very long benchmark name", 1_000_000, 0.25, 153.25,
        "vignettes", ">= 1,000,000 vignettes/s", True),
    Row("app | scoring", 24, 2.0, 0.5, "requests", "", None),
    Row("report", 3, 4.0, 12.0, "reports", "< 5 s", False),
]


def test_markdown_rows_are_single_unwrapped_lines() -> None:
    lines = markdown_table(ROWS).splitlines()
    assert lines[0] == "dsk benchmarks" and lines[1] == ""
    header, rule, *body = lines[2:]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "benchmark", "items", "seconds", "per second", "peak MiB", "target", "met"]
    assert rule.startswith("|:--") and rule.endswith("-:|")
    assert len(body) == len(ROWS)
    assert len({len(line) for line in [header, rule, *body]}) == 1  # fixed columns
    assert body[0] == ("| rules: vector backend on a very long benchmark name | 1,000,000 "
                       "|   0.250 | 4,000,000 vignettes/s |    153.2 | >= 1,000,000 vignettes/s "
                       "| yes |")
    assert "| app \\| scoring " in body[1]
    assert body[1].endswith("|         12 requests/s |      0.5 |                          |     |")
    assert body[2].endswith("|  NO |")


def test_off_a_terminal_the_table_is_markdown_however_narrow() -> None:
    out = io.StringIO()
    console = Console(file=io.StringIO(), width=40, force_terminal=False)
    print_table(ROWS, console, out)
    assert out.getvalue() == markdown_table(ROWS) + "\n"
    assert max(len(line) for line in out.getvalue().splitlines()) > 40


def test_on_a_terminal_rich_draws_the_table() -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=200, force_terminal=True, color_system=None)
    out = io.StringIO()
    print_table(ROWS[:1], console, out)
    assert out.getvalue() == ""
    assert "4,000,000 vignettes/s" in screen.getvalue() and "dsk benchmarks" in screen.getvalue()


def test_harness_examples() -> None:
    result = doctest.testmod(harness)
    assert result.attempted > 0 and result.failed == 0
