"""Typed domain errors. Handlers map them to short replies; HTTP maps them to status codes."""
from __future__ import annotations


class FirebreakError(Exception):
    """Base of every error the domain raises on purpose; `str()` is safe to show a user."""


class NotFound(FirebreakError):
    """The thing named does not exist (an unknown incident id, service or person)."""


class InvalidTransition(FirebreakError):
    """The incident's current status does not allow the requested change."""


class PermissionDenied(FirebreakError):
    """The actor may not do this; the message says why and who may."""

    def __init__(self, message: str, *, action: str = "", allowed: str = "", incident_id: int | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.allowed = allowed
        self.incident_id = incident_id


class ValidationFailed(FirebreakError):
    """The input is malformed; the message says what is expected."""


class Duplicate(FirebreakError):
    """The same request was already handled (idempotency)."""


class ConfigError(FirebreakError):
    """Settings or the response plan are invalid; the message names what and how to fix it."""
