"""What the emulator does on the wire, below the REST API: request size limits, header name case,
compressed bodies and HTTP dates.

- Salesforce limits a request's URI plus headers to 16,384 bytes: a longer URI answers
  ``414 URI Too Long``, a request whose URI fits but whose URI and headers together do not answers
  ``431 Request Header Fields Too Large`` (help article 000386264, "Maximum number of rows returned
  by SOQL queries over the REST API").
- Salesforce sends header names in their canonical case (``Content-Type``, ``Sforce-Limit-Info``);
  uvicorn lowercases every name it writes, so :class:`CanonicalHeaders` puts the case back on the
  response head as it leaves.
- A request body sent with ``Content-Encoding: gzip`` is accepted (:func:`decode_body`), and
  responses are compressed when the request sends ``Accept-Encoding: gzip`` (starlette's
  ``GZipMiddleware``, wired in :func:`wire_app`).
"""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.common.control import TRANSPORT_KEY

MAX_URI_AND_HEADERS = 16_384
URI_TOO_LONG = "uri.tooLong"
HEADERS_TOO_LARGE = "headers.tooLarge"
#: Compression level of gzip responses: Salesforce's level is not documented; 1 keeps the emulator fast.
GZIP_LEVEL = 1
GZIP_MINIMUM_SIZE = 500
SPECIAL_CASE = {b"www": b"WWW", b"etag": b"ETag", b"md5": b"MD5", b"xss": b"XSS", b"id": b"ID", b"dns": b"DNS"}


def request_sizes(scope: Scope) -> tuple[int, int]:
    """The bytes of the request's URI (path and query as sent) and of its header lines.

    A header line counts ``name: value`` and its CRLF, as on the wire.
    """
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string") or b""
    uri = len(raw_path) + (len(query) + 1 if query else 0)
    headers = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))
    return uri, headers


def size_violation(scope: Scope) -> str | None:
    """``URI_TOO_LONG``, ``HEADERS_TOO_LARGE`` or ``None`` for a request within Salesforce's limit."""
    uri, headers = request_sizes(scope)
    if uri > MAX_URI_AND_HEADERS:
        return URI_TOO_LONG
    if uri + headers > MAX_URI_AND_HEADERS:
        return HEADERS_TOO_LARGE
    return None


def size_response(violation: str) -> Response:
    """The answer to an oversized request: 414 or 431 with the reason phrase as a plain-text body.

    Salesforce documents the status codes but not a body; the emulator sends the reason phrase.
    """
    if violation == URI_TOO_LONG:
        return Response("URI Too Long", 414, media_type="text/plain")
    return Response("Request Header Fields Too Large", 431, media_type="text/plain")


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """A request body with its ``Content-Encoding`` (``gzip`` or ``deflate``) undone.

    Raises:
        ValueError: the body is not what its encoding says.
    """
    encoding = (content_encoding or "").strip().lower()
    if not body or encoding in {"", "identity"}:
        return body
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"the request body is not valid {encoding}") from exc
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def canonical_name(name: bytes) -> bytes:
    """``content-type`` → ``Content-Type``, ``sforce-limit-info`` → ``Sforce-Limit-Info``, ``www-authenticate``
    → ``WWW-Authenticate``."""
    return b"-".join(SPECIAL_CASE.get(part.lower(), part[:1].upper() + part[1:].lower())
                     for part in name.split(b"-"))


def canonical_head(head: bytes) -> bytes:
    """A response head (status line, header lines, blank line) with canonical header names."""
    lines = head.split(b"\r\n")
    for index in range(1, len(lines)):
        name, colon, rest = lines[index].partition(b":")
        if colon:
            lines[index] = canonical_name(name) + b":" + rest
    return b"\r\n".join(lines)


class _HeadRewritingTransport:
    """Stands in for the connection's transport during one request: the response head written
    through it gets canonical header names; everything else passes through."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._head_written = False

    def write(self, data: bytes) -> None:
        """Write ``data``, rewriting the response head."""
        if not self._head_written and data.startswith(b"HTTP/1."):
            if not data.startswith(b"HTTP/1.1 100 "):
                self._head_written = True
            data = canonical_head(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CanonicalHeaders:
    """ASGI middleware: the response head of every request goes out with canonical header names.

    HTTP/1.1 header names are case-insensitive, but some clients compare them as written
    (airbyte-cdk reads ``Content-Type`` from the raw headers). uvicorn's HTTP protocol lowercases
    every name when it writes the head, so this middleware hands the request's response cycle a
    transport that restores the case. Without uvicorn's protocol (another server) it does nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hook the response cycle's transport, then run the app."""
        if scope["type"] == "http":
            transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
            protocol = transport.get_protocol() if transport is not None else None
            cycle = getattr(protocol, "cycle", None)
            if cycle is not None and hasattr(cycle, "transport") and not isinstance(cycle.transport,
                                                                                    _HeadRewritingTransport):
                cycle.transport = _HeadRewritingTransport(cycle.transport)
        await self.app(scope, receive, send)


def wire_app(app: ASGIApp) -> ASGIApp:
    """``app`` with gzip responses on request and canonical header names on the wire."""
    return CanonicalHeaders(GZipMiddleware(app, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL))


def http_date(when: datetime) -> str:
    """``when`` as an HTTP date (``Wed, 03 Jul 2013 19:43:31 GMT``), to the second."""
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(text: str | None) -> datetime | None:
    """An ``If-Modified-Since`` value as an aware datetime, or ``None`` when absent or unreadable."""
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
