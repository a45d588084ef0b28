"""The server's logs: an access log line per request, with no secret from the URL.

``dsk serve`` runs uvicorn with :func:`log_config`: warnings and errors on standard
error, and uvicorn's access log (``client - "GET /path HTTP/1.1" 200 OK``) on standard
error too, or appended to ``--access-log FILE``. A participant's link is their
password, so :class:`RedactLinks`, a filter on both handlers, writes ``/p/<token>`` as
``/p/[link]`` and every query-string value as ``[value]`` before a line is written.
:func:`server_options` gathers what ``uvicorn.run`` needs (the log configuration is a
plain dict, so one process and several worker processes can use it alike), including
``proxy_headers=False``: the app itself decides whose ``X-Forwarded-For`` to believe
(``--trusted-proxy``, :meth:`dsk.app._state.AppState.client_address`), where uvicorn
would otherwise believe it from 127.0.0.1.

Examples
--------
>>> import logging
>>> record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
...     '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", "/p/Zk3x-9?next=/s", "1.1", 200),
...     None)
>>> RedactLinks().filter(record), record.getMessage()
(True, '127.0.0.1:5000 - "GET /p/[link]?next=[value] HTTP/1.1" 200')
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

_LINK = re.compile(r"(/p/)[^/?#\s\"]+")
_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"]*=)[^&#\s\"]*")


def redact(text: str) -> str:
    """``text`` with participant-link tokens and query-string values replaced.

    Examples
    --------
    >>> redact("/p/4bq0K_2Lx9")
    '/p/[link]'
    >>> redact("/studies/3/export.csv?excel=1&token=abc")
    '/studies/3/export.csv?excel=[value]&token=[value]'
    >>> redact("/studies/3")
    '/studies/3'
    """
    return _QUERY_VALUE.sub(r"\1[value]", _LINK.sub(r"\1[link]", text))


class RedactLinks(logging.Filter):
    """A logging filter that passes every record with :func:`redact` applied to its
    string arguments (uvicorn's access lines carry the path as one), or to its message
    when it has no arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif not record.args and isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config(access_log: str | Path | None = None) -> dict[str, Any]:
    """uvicorn's logging configuration (a :func:`logging.config.dictConfig` dict).

    Warnings and errors go to standard error; the access log goes to standard error
    too, or is appended to ``access_log`` (reopened when it is rotated away). Both
    pass :class:`RedactLinks`.

    Examples
    --------
    >>> config = log_config("access.log")
    >>> config["handlers"]["access"]["filename"], config["handlers"]["access"]["filters"]
    ('access.log', ['redact'])
    >>> log_config()["handlers"]["access"]["stream"]
    'ext://sys.stderr'
    """
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    target = stderr if access_log is None else {
        "class": "logging.handlers.WatchedFileHandler", "filename": str(access_log),
        "encoding": "utf-8"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactLinks"}},
        "formatters": {
            "default": {"()": "uvicorn.logging.DefaultFormatter",
                        "fmt": "%(asctime)s %(levelprefix)s %(message)s", "use_colors": False},
            "access": {"()": "uvicorn.logging.AccessFormatter",
                       "fmt": '%(asctime)s %(client_addr)s - "%(request_line)s" %(status_code)s',
                       "use_colors": False},
        },
        "handlers": {
            "default": {"formatter": "default", "filters": ["redact"], **stderr},
            "access": {"formatter": "access", "filters": ["redact"], **target},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def server_options(access_log: str | Path | None = None) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for the scoring app: the access log on
    (:func:`log_config`), log levels from that configuration, and uvicorn's own
    ``X-Forwarded-For`` handling off.

    >>> sorted(server_options())
    ['access_log', 'log_config', 'log_level', 'proxy_headers']
    """
    return {"log_config": log_config(access_log), "log_level": None, "access_log": True,
            "proxy_headers": False}
