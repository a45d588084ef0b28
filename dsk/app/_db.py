"""Engines, sessions and migrations.

``sqlite:///file`` (the default of ``dsk serve``) runs in WAL mode with a busy
timeout, so many practitioners can submit at once and a killed server loses no
committed answer; ``postgresql://`` URLs use psycopg 3, and each pooled connection is tested
("pre-ping") as it is handed out, so that after a restart of the PostgreSQL server
the app reconnects instead of failing on the connections of the old server.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(db_url: str | Path) -> str:
    """Accept a path, ``sqlite:///...`` or ``postgresql://...``; pick the psycopg 3 driver."""
    text = str(db_url)
    if "://" not in text:
        return f"sqlite:///{Path(text).resolve()}"
    url = make_url(text)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ValueError(f"--db: expected a sqlite:/// or postgresql:// URL, got {url.drivername}://")
    return url.render_as_string(hide_password=False)


def make_engine(db_url: str | Path, pool_size: int = 20) -> Engine:
    url = normalise_url(db_url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        if make_url(url).database in (None, "", ":memory:"):
            raise ValueError("--db: an in-memory SQLite database cannot be shared; give a file")
        kwargs.update(pool_size=pool_size, max_overflow=40, pool_timeout=60,
                      connect_args={"check_same_thread": False, "timeout": 30})
    else:
        kwargs.update(pool_size=pool_size, max_overflow=20, pool_timeout=60, pool_pre_ping=True)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable if the process dies
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def writing(db: Session) -> AbstractContextManager[Any]:
    """The in-process write lock of a SQLite database (a no-op lock on PostgreSQL).

    SQLite allows one writer; waiting writers otherwise poll with sleeps of up to
    100 ms (its busy handler), which shows up as tail latency under load.
    :class:`dsk.app._state.AppState` puts the lock in its sessions' ``info``.
    """
    lock: AbstractContextManager[Any] | None = db.info.get("write_lock")
    return lock if lock is not None else nullcontext()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` with the bundled migrations.

    On SQLite, foreign keys are off while the migrations run: changing a table there
    means rebuilding it, and dropping the old table would otherwise delete the rows that
    refer to it (or refuse to drop it). They are checked afterwards.
    """
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database schema back to ``revision``, as :func:`upgrade` takes it up."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                step(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"the migration left rows whose foreign keys "
                                           f"point nowhere: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
