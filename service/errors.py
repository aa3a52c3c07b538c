"""Domain errors that carry a stable code and a message free of personal data;
the HTTP layer turns them into problem responses."""

from __future__ import annotations


class CodedError(Exception):
    """An error with a stable ``code`` and a human ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
