"""DevRev's error types, one class each. The wire body is `{"type", "message", ...fields}`.

This module is free of the web framework: services raise these, `web.py` turns them into responses.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = {key: value for key, value in fields.items() if value is not None}

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, **self.fields}

    def headers(self) -> dict[str, str]:
        return {}


# 400 -------------------------------------------------------------------------------------------------


class BadRequestError(ApiError):
    status = 400
    type = "bad_request"


class ArtifactAlreadyAttached(BadRequestError):
    type = "artifact_already_attached_to_a_parent"

    def __init__(self, message: str, *, existing_parent: str, is_same: bool) -> None:
        super().__init__(message, existing_parent=existing_parent, is_same=is_same)


class CustomizationValidationError(BadRequestError):
    type = "customization_validation_error"

    def __init__(self, message: str, *, subtype: str, field_name: str | None = None, reason: str | None = None):
        super().__init__(message, subtype=subtype, field_name=field_name, reason=reason)


class InvalidApiVersion(BadRequestError):
    type = "invalid_api_version"

    def __init__(self, message: str, *, value: str) -> None:
        super().__init__(message, value=value)


class InvalidEnumValue(BadRequestError):
    type = "invalid_enum_value"

    def __init__(self, message: str, *, field_name: str, value: str, allowed_values: list[str]) -> None:
        super().__init__(message, field_name=field_name, value=value, allowed_values=allowed_values)


class InvalidField(BadRequestError):
    type = "invalid_field"

    def __init__(self, message: str, *, field_name: str) -> None:
        super().__init__(message, field_name=field_name)


class InvalidId(BadRequestError):
    type = "invalid_id"

    def __init__(self, message: str, *, field_name: str) -> None:
        super().__init__(message, field_name=field_name)


class MergeWorksError(BadRequestError):
    type = "merge_works_error"


class MissingDependency(BadRequestError):
    type = "missing_dependency"


class MissingRequiredField(BadRequestError):
    type = "missing_required_field"

    def __init__(self, message: str, *, field_name: str) -> None:
        super().__init__(message, field_name=field_name)


class ParseError(BadRequestError):
    type = "parse_error"


class StaleSchemaFragments(BadRequestError):
    type = "stale_schema_fragments"


class UnexpectedIdType(BadRequestError):
    type = "unexpected_id_type"

    def __init__(self, message: str, *, field_name: str) -> None:
        super().__init__(message, field_name=field_name)


class UnexpectedJsonType(BadRequestError):
    type = "unexpected_json_type"

    def __init__(self, message: str, *, field_name: str, expected: str, actual: str) -> None:
        super().__init__(message, field_name=field_name, expected=expected, actual=actual)


class ValueNotPermitted(BadRequestError):
    type = "value_not_permitted"

    def __init__(
        self,
        message: str,
        *,
        field_name: str,
        allowed_values: list[str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, field_name=field_name, allowed_values=allowed_values, reason=reason)


class WorkflowComponentValidationErrors(BadRequestError):
    type = "workflow_component_validation_errors"


# other statuses -------------------------------------------------------------------------------------


class Unauthenticated(ApiError):
    status = 401
    type = "unauthenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    status = 403
    type = "forbidden"


class NotFound(ApiError):
    status = 404
    type = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    type = "method_not_allowed"

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class Conflict(ApiError):
    status = 409
    type = "conflict"


class RequestEntityTooLarge(ApiError):
    status = 413
    type = "request_entity_too_large"

    def __init__(self, message: str, *, max_bytes: int) -> None:
        super().__init__(message, max_bytes=max_bytes)


class TooManyRequests(ApiError):
    status = 429
    type = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class InternalError(ApiError):
    status = 500
    type = "internal_error"

    def __init__(self, message: str, *, reference_id: str) -> None:
        super().__init__(message, reference_id=reference_id)


class ServiceUnavailable(ApiError):
    status = 503
    type = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
