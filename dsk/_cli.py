"""What every ``dsk`` command group shares."""

from __future__ import annotations

import typer

__all__ = ["fail"]


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr, unwrapped, and return the exit (status 1) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)
