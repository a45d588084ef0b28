"""Where the project's data lives: ``vignettes/`` and ``experiments/`` beside the package."""

from __future__ import annotations

from pathlib import Path

__all__ = ["project_path"]

_ROOT = Path(__file__).resolve().parent.parent


def project_path(*parts: str, must_exist: bool = True) -> Path:
    """``<checkout>/<parts...>``, e.g. ``project_path("vignettes", "factors.yaml")``."""
    path = _ROOT.joinpath(*parts)
    if must_exist and not path.exists():
        raise FileNotFoundError(f"{'/'.join(parts)} not found beside the dsk package")
    return path
