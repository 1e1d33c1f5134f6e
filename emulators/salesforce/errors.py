"""Salesforce's error shapes: the REST error list and the per-record error of Collections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

NOT_FOUND_MESSAGE = "The requested resource does not exist"
ROLLED_BACK_MESSAGE = "Record rolled back because not all records were valid and the request was using AllOrNone header"


@dataclass
class RecordError:
    """One error about one record, as Salesforce reports it (``statusCode``, ``message``, ``fields``)."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def to_collection_json(self) -> dict[str, Any]:
        """The error inside a Collections / Bulk result: ``{"statusCode", "message", "fields"}``."""
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def to_rest_json(self) -> dict[str, Any]:
        """The error in a REST error list: ``{"message", "errorCode", "fields"}``."""
        return {"message": self.message, "errorCode": self.status_code, "fields": self.fields}


class SalesforceError(Exception):
    """A request-level failure, answered as ``[{"message", "errorCode"[, "fields"]}]`` with ``status``."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    @classmethod
    def from_record_error(cls, error: RecordError, status: int = 400) -> SalesforceError:
        """The request-level form of a record error (single-record REST calls)."""
        return cls(status, error.status_code, error.message, error.fields)

    def body(self) -> list[dict[str, Any]]:
        """The JSON body."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def response(self) -> Response:
        """The HTTP response."""
        return json_response(self.body(), self.status)


def not_found() -> SalesforceError:
    """404 ``NOT_FOUND``: the requested resource does not exist."""
    return SalesforceError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")
