"""Several uvicorn worker processes: ``dsk serve --workers N`` (PostgreSQL only).

uvicorn starts each worker as a fresh Python process and needs the app as an import
string, so a worker builds its own app with :func:`create` from the settings the
parent left in the environment variable :data:`SETTINGS`: every keyword argument of
:func:`dsk.app.create_app` as one JSON object. Options that ``serve`` passes to
``create_app`` reach the workers unchanged, whatever they are.

The parent builds the app once itself before starting the workers: that checks the
settings, migrates the database (the workers do not, so two of them never race on
Alembic) and creates the signing secret that every worker then reads. SQLite allows
one writer at a time, so several workers on it are refused (:func:`check_workers`).

Examples
--------
>>> check_workers("sqlite:///app.sqlite3", 1)
>>> check_workers("postgresql://dsk@127.0.0.1/dsk", 2)
>>> check_workers("sqlite:///app.sqlite3", 2)
Traceback (most recent call last):
...
ValueError: workers: --workers 2 needs PostgreSQL; SQLite has one writer at a time, so it is served by one process (give --db postgresql://... or leave out --workers)
>>> import json
>>> json.loads(settings_json({"db_url": "postgresql://dsk@127.0.0.1/dsk", "threads": 4}))
{'db_url': 'postgresql://dsk@127.0.0.1/dsk', 'threads': 4, 'migrate': False}
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from ._db import normalise_url

#: Environment variable holding the JSON keyword arguments of ``create_app`` for workers.
SETTINGS = "DSK_APP_SETTINGS"
#: How long a starting worker waits for the database (a worker restarted while
#: PostgreSQL itself restarts must not give up at once).
WAIT_FOR_DATABASE = 60.0


def check_workers(db_url: str | Path, workers: int) -> None:
    """Refuse (``ValueError`` naming ``workers``) fewer than one worker, or several on SQLite."""
    if workers < 1:
        raise ValueError(f"workers: expected at least 1 worker process, got {workers}")
    if workers > 1 and normalise_url(db_url).startswith("sqlite"):
        raise ValueError(f"workers: --workers {workers} needs PostgreSQL; SQLite has one writer "
                         "at a time, so it is served by one process (give --db "
                         "postgresql://... or leave out --workers)")


def settings_json(settings: dict[str, Any]) -> str:
    """The workers' ``create_app`` keyword arguments as JSON (they never migrate)."""
    return json.dumps({**settings, "migrate": False})


def create() -> FastAPI:
    """uvicorn's app factory in a worker: ``create_app(**json.loads($DSK_APP_SETTINGS))``.

    While the database cannot be reached, keeps trying for up to
    :data:`WAIT_FOR_DATABASE` seconds before giving up.
    """
    from ._web import create_app

    settings = json.loads(os.environ[SETTINGS])
    deadline = time.monotonic() + WAIT_FOR_DATABASE
    pause = 0.1
    while True:
        try:
            return create_app(**settings)
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 2.0)


def run(app: FastAPI, settings: dict[str, Any], workers: int, **options: Any) -> None:
    """Serve ``app`` with uvicorn: in this process, or (``workers`` > 1) in ``workers``
    worker processes, each building its app from ``settings`` (the keyword arguments
    ``app`` was built with). ``options`` go to uvicorn (``uvicorn.run``, ``uvicorn.Config``)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if workers == 1:
        uvicorn.run(app, **options)
        return
    app.state.core.engine.dispose()  # the parent only supervises; it holds no connection
    os.environ[SETTINGS] = settings_json(settings)
    # What uvicorn.run does for several workers, on a listening socket from tcp_listener
    config = uvicorn.Config(f"{__name__}:create", factory=True, workers=workers, **options)
    try:
        Multiprocess(config, sockets=[tcp_listener(config)]).run()
    except KeyboardInterrupt:
        pass


def tcp_listener(config: Any) -> socket.socket:
    """The listening socket of a uvicorn ``Config``, marked as TCP.

    uvicorn binds the socket it hands to its workers with protocol number 0; accepted
    connections inherit that, and asyncio then leaves Nagle's algorithm on for them
    (it sets ``TCP_NODELAY`` only on sockets that say they are TCP). A page sent as
    headers and then body then waits for the browser's delayed ACK, about 40 ms on
    Linux (uvicorn issue 3149). The same socket, with its protocol stated, avoids that.
    """
    listener = config.bind_socket()
    if listener.family not in (socket.AF_INET, socket.AF_INET6):
        return listener
    return socket.socket(listener.family, listener.type, socket.IPPROTO_TCP,
                         fileno=listener.detach())
