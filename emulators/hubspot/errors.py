"""HubSpot's error shapes: ``{"status": "error", "message", "correlationId", "category"[, "errors", "context"]}``
for a request, and the same without ``correlationId`` for one input of a batch."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

AUTH_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")


def correlation_id() -> str:
    """A fresh correlation id, as HubSpot puts in every error."""
    return str(uuid.uuid4())


@dataclass
class InputError(Exception):
    """One failed input of a batch call (an entry of the response's ``errors``); raised where one input fails."""

    category: str
    message: str
    context: dict[str, list[str]] = field(default_factory=dict)
    sub_category: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as HubSpot writes it."""
        data: dict[str, Any] = {"status": "error", "category": self.category, "message": self.message,
                                "context": self.context}
        if self.sub_category:
            data["subCategory"] = self.sub_category
        return data


class HubSpotError(Exception):
    """A request-level failure: answered with ``status`` and HubSpot's error body."""

    def __init__(self, status: int, category: str, message: str, *, errors: list[dict[str, Any]] | None = None,
                 context: dict[str, list[str]] | None = None, sub_category: str | None = None) -> None:
        super().__init__(f"{category}: {message}")
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context
        self.sub_category = sub_category

    @classmethod
    def from_input_error(cls, error: InputError, status: int = 400) -> HubSpotError:
        """The request-level form of one input's error (single-record calls)."""
        return cls(status, error.category, error.message, context=error.context or None,
                   sub_category=error.sub_category)

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        data: dict[str, Any] = {"status": "error", "message": self.message, "correlationId": correlation_id(),
                                "category": self.category}
        if self.sub_category:
            data["subCategory"] = self.sub_category
        if self.context:
            data["context"] = self.context
        if self.errors:
            data["errors"] = self.errors
        return data

    def response(self, headers: dict[str, str] | None = None) -> Response:
        """The HTTP response."""
        return json_response(self.body(), self.status, headers)


def validation(message: str, **kwargs: Any) -> HubSpotError:
    """400 ``VALIDATION_ERROR``."""
    return HubSpotError(400, "VALIDATION_ERROR", message, **kwargs)


def not_found(message: str = "resource not found") -> HubSpotError:
    """404 ``OBJECT_NOT_FOUND``."""
    return HubSpotError(404, "OBJECT_NOT_FOUND", message)


def property_errors(problems: list[dict[str, Any]]) -> InputError:
    """``Property values were not valid: [...]``, HubSpot's message for bad property values (JSON inside the text)."""
    detailed = [{"isValid": False, **p, "localizedErrorMessage": p["message"]} for p in problems]
    return InputError("VALIDATION_ERROR", f"Property values were not valid: {json.dumps(detailed)}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")
