"""``python -m dsk.app --db URL --host 127.0.0.1 --port 8000 [--workers N]``: the same as
``dsk serve`` (several workers only on PostgreSQL)."""

import typer

from dsk.app.cli import serve

if __name__ == "__main__":
    typer.run(serve)
