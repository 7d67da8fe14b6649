"""The refusal every simulated API reports in its error shape."""

from collections.abc import Mapping
from typing import Any


class SandboxError(Exception):
    """An error the API reports as `{"success": false, "error", "code", "details"}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def invalid(field: str, message: str) -> SandboxError:
    """400 INVALID_REQUEST naming the refused `field` in `details.field`."""
    return SandboxError(400, "INVALID_REQUEST", message, {"field": field})
