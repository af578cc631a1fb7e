"""The app API's one error: an HTTP status, a message that says how to fix it, and the field of the
request it concerns (every error answer is `{"error": ..., "field": ...}`)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.headers = headers or {}
