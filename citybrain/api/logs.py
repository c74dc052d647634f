"""The server's logging (``CITYBRAIN_LOG_FORMAT``): one JSON object a line (python-json-logger),
or plain text for a terminal, each line carrying the id of the request it belongs to
(``request_id``: ``api.observe.RequestId``), the access log's lines included.

JSON escapes whatever a client sent (a path with a newline cannot forge a line). Nothing here
logs headers or settings: keys and database passwords never reach a log line.
"""

from __future__ import annotations

import logging
from typing import Any


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``-`` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from asgi_correlation_id import correlation_id

        record.request_id = correlation_id.get() or "-"
        return True


class AccessFields(logging.Filter):
    """uvicorn's access lines as fields (client, method, path, status), not only a sentence."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            record.client, record.method, record.path, _, record.status = args
        return True


TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


def log_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's ``log_config`` (each server process
    applies it): every logger (citybrain's, uvicorn's, the libraries') through one handler on
    stderr in ``fmt`` (``json`` or ``text``)."""
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {"format": TEXT}
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "main",
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "access": {"()": AccessFields},
        },
        "formatters": {"main": formatter},
        "handlers": {
            "main": handler,
            "access": {**handler, "filters": ["request_id", "access"]},
        },
        "root": {"handlers": ["main"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            # It warns of every unusable X-Request-ID it replaces: a line a caller could repeat
            # at will (the id is replaced all the same).
            "asgi_correlation_id": {"level": "ERROR"},
        },
    }
