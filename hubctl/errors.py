"""What can go wrong in hubctl, each with a hint for the next step and its own exit code.

Exit codes: 0 ok, 1 the operation failed, 2 bad input (refused locally or by the API with 400/422),
3 conflict (another operation runs, 409), 4 not found / not deployed / discovery failed,
5 not authorized (401/403), 6 the API cannot be reached, or could not take the request (5xx after retries).
"""

from __future__ import annotations

OPERATION_FAILED = 1
BAD_INPUT = 2
CONFLICT = 3
NOT_FOUND = 4
AUTH = 5
UNREACHABLE = 6


class HubctlError(Exception):
    exit_code = OPERATION_FAILED

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        details: list[str] | None = None,
        operation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []
        self.operation_id = operation_id


class OperationFailed(HubctlError):
    exit_code = OPERATION_FAILED


class BadInput(HubctlError):
    exit_code = BAD_INPUT


class Conflict(HubctlError):
    exit_code = CONFLICT


class NotFound(HubctlError):
    exit_code = NOT_FOUND


class AuthError(HubctlError):
    exit_code = AUTH


class Unreachable(HubctlError):
    exit_code = UNREACHABLE
