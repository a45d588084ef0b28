"""``python -m dsk.app --db URL --host 127.0.0.1 --port 8000``: the same as ``dsk serve``."""

import typer

from dsk.app.cli import serve

if __name__ == "__main__":
    typer.run(serve)
