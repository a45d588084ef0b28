"""Alembic environment of the scoring app.

Run programmatically by :func:`dsk.app._db.upgrade` (``dsk serve`` and
``create_app`` call it at startup), which passes an open connection in
``config.attributes["connection"]``. ``alembic -x url=...`` also works for
developers: ``alembic -c /dev/null -x url=sqlite:///app.sqlite3 upgrade head``
is not needed in normal use.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from dsk.app._models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url")
    engine = create_engine(str(url))
    with engine.begin() as conn:
        _run(conn)
else:
    _run(connection)
