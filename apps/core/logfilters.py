"""Keep secrets out of logs: claim and invite links carry one-use tokens in their path, and
Django logs the path of every 4xx/5xx (e.g. "Not Found: /invite/<token>/")."""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"(/(?:claim|invite)/)[^/\s?\"']+")
API_KEY = re.compile(r"sbk_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    return API_KEY.sub("sbk_…", TOKEN_PATH.sub(r"\1…", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
