"""Keep login tokens out of the logs: a filter that redacts them from uvicorn's records.

The pages send the websocket token as a subprotocol, never in the URL; this filter is the
belt and braces for any other client that puts `?token=` in a URL, or a JWT anywhere.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
TOKEN_QUERY = re.compile(r"(?i)([?&;](?:access_)?token=)[^&\s\"'#]+")
JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+")
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def redact(text: str) -> str:
    """Return the text with token query values and JWTs replaced."""
    return JWT.sub(REDACTED, TOKEN_QUERY.sub(rf"\1{REDACTED}", text))


class RedactTokens(logging.Filter):
    """Rewrite a record's message and string arguments with the tokens redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drop the record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install_log_redaction() -> None:
    """Attach the filter to uvicorn's loggers (once); call after uvicorn configured logging."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
