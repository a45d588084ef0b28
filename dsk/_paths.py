"""Where the bundled data lives: ``dsk/data/`` inside the package, read through
:mod:`importlib.resources`.

``data/vignettes/`` holds the factor catalogue, the narrative templates and the bundled
vignette sets; ``data/experiments/`` the experiment configs, the rulesets (``rules/``) and the
panels and profession profiles (``panels/``). A checkout keeps ``vignettes`` and
``experiments`` at its top level as links into the package, so the same files serve the
repository and an installed wheel (see ``docs/architecture.md``).

Examples
--------
>>> data_path("vignettes", "factors.yaml").name
'factors.yaml'
>>> data_path("experiments", "nothing-here.yaml")
Traceback (most recent call last):
...
FileNotFoundError: experiments/nothing-here.yaml is not in the data bundled with dsk
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["data_path"]


def data_path(*parts: str, must_exist: bool = True) -> Path:
    """The file or folder ``dsk/data/<parts...>`` of the installed package.

    Parameters
    ----------
    *parts : path components below ``dsk/data``, e.g. ``("vignettes", "factors.yaml")``.
    must_exist : raise when the path does not exist.

    Raises
    ------
    FileNotFoundError
        When ``must_exist`` and nothing is there.
    RuntimeError
        When the package is not installed as plain files (a zip archive, say).
    """
    root = resources.files("dsk").joinpath("data")
    if not isinstance(root, Path):  # pragma: no cover - only for zipped installs
        raise RuntimeError(f"dsk's bundled data must be plain files on disk, not {type(root).__name__}")
    path = root.joinpath(*parts)
    if must_exist and not path.exists():
        raise FileNotFoundError(f"{'/'.join(parts)} is not in the data bundled with dsk")
    return path
