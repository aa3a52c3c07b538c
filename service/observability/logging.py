"""structlog set-up: JSON lines, request id bound per request, personal data redacted."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

from service.observability.redaction import redaction_processor, scrub_text


class _ScrubStdlib(logging.Filter):
    """Stdlib records (granian, alembic, sqlalchemy) pass through the same scrubber."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not kill logging
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        return True


def configure_logging(level: str = "INFO", stream: TextIO | None = None, *, file: Path | None = None) -> None:
    """Send structlog and stdlib logging to ``stream`` (else ``file``, else stderr) as
    redacted JSON lines."""
    out = stream or (open_log_file(file) if file is not None else sys.stderr)
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redaction_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.addFilter(_ScrubStdlib())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[*shared[:-1], structlog.stdlib.add_logger_name, redaction_processor],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for noisy in ("sqlalchemy.engine", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    """A structlog logger tagged with ``name``."""
    return structlog.get_logger(name)


def open_log_file(path: Path) -> TextIO:
    """``path`` opened for appending log lines; created readable by the owner only (mode
    0600, in a directory of mode 0700), since a log line names accounts and addresses."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8")
