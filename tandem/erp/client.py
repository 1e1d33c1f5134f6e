"""Building the zeep client: the WSDL is parsed once per process, every call has timeouts.

``ErpConnection`` holds the unwrapped settings (made by the Prefect block's ``get_client()``).
``SoapClient`` owns one ``requests`` session (trusting the configured CA bundle, ignoring the
environment's ``REQUESTS_CA_BUNDLE``), a zeep ``Client`` over the cached WSDL document, and the
passport signer; :meth:`SoapClient.call` posts one operation with a fresh ``tokenPassport`` and
returns the raw HTTP response after classifying HTTP errors and SOAP faults.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from tandem.erp.errors import classify_exception, classify_http
from tandem.erp.passport import PassportSigner

logger = logging.getLogger(__name__)

_DOCUMENTS: dict[tuple[str, str | None], Document] = {}
_DOCUMENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ErpConnection:
    """Everything needed to reach the ERP, with the secrets unwrapped (never log it; repr hides them).

    Attributes:
        account: the account id (``1234567`` or ``1234567_SB1``).
        consumer_key: the integration record's consumer key.
        consumer_secret: the integration record's consumer secret.
        token_id: the access token id.
        token_secret: the access token secret.
        wsdl_url: an http(s) URL or a file path of the WSDL.
        endpoint_url: the SOAP address to post to instead of the WSDL's, if set.
        ca_bundle: a PEM file of CAs to trust, or ``None`` for the system's.
        connect_timeout: seconds to establish a connection.
        operation_timeout: seconds to wait for one call's answer.
        pool_size: HTTP connections kept open (for concurrent callers).
        clock: the Unix time to sign passports with (``time.time``; a synchronised clock in practice).
    """

    account: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)
    wsdl_url: str
    endpoint_url: str | None = None
    ca_bundle: str | None = None
    connect_timeout: float = 10.0
    operation_timeout: float = 120.0
    pool_size: int = 8
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.operation_timeout <= 0:
            raise ValueError("connect_timeout and operation_timeout must be more than 0 seconds")

    @property
    def timeout(self) -> tuple[float, float]:
        """The ``(connect, read)`` timeout given to every request."""
        return (self.connect_timeout, self.operation_timeout)

    def signer(self) -> PassportSigner:
        """A passport signer over these credentials."""
        return PassportSigner(
            account=self.account,
            consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret,
            token_id=self.token_id,
            token_secret=self.token_secret,
            clock=self.clock,
        )


class QuietTransport(Transport):
    """A zeep transport that never logs request or response bodies (zeep's own logs them at DEBUG,
    passport included)."""

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        """Post ``message`` to ``address`` with the operation timeout."""
        return self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)


def make_session(connection: ErpConnection) -> requests.Session:
    """A ``requests`` session that trusts the configured CA bundle and keeps connections open.

    Args:
        connection: the connection settings.

    Returns:
        The session (``trust_env`` off, so ``REQUESTS_CA_BUNDLE`` cannot override ``verify``).
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = connection.ca_bundle or True
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=connection.pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def load_document(connection: ErpConnection, transport: Transport) -> Document:
    """Return the parsed WSDL for ``connection``, loading it only the first time in this process.

    Args:
        connection: where the WSDL lives and which CAs to trust.
        transport: the transport to fetch it (and its imports) with.

    Returns:
        The shared zeep WSDL document.
    """
    key = (connection.wsdl_url, connection.ca_bundle)
    with _DOCUMENTS_LOCK:
        document = _DOCUMENTS.get(key)
        if document is None:
            try:
                document = Document(connection.wsdl_url, transport, settings=Settings(strict=True))  # type: ignore[arg-type]
            except Exception as exc:
                raise classify_exception(exc, "load WSDL") from exc
            _DOCUMENTS[key] = document
            logger.info("loaded the ERP WSDL (%d bindings)", len(document.bindings))
        return document


def forget_documents() -> None:
    """Drop the cached WSDL documents (the next client loads them again)."""
    with _DOCUMENTS_LOCK:
        _DOCUMENTS.clear()


class SoapClient:
    """One zeep client over the shared WSDL, with a session, timeouts and passport signing."""

    def __init__(self, connection: ErpConnection) -> None:
        self.connection = connection
        self.session = make_session(connection)
        self.transport = QuietTransport(
            timeout=connection.timeout, operation_timeout=connection.timeout, session=self.session
        )
        self._signer = connection.signer()
        document = load_document(connection, self.transport)
        self.zeep = Client(document, transport=self.transport, settings=Settings(strict=True))
        service = next(iter(document.services.values()))
        port = next(iter(service.ports.values()))
        address = connection.endpoint_url or port.binding_options["address"]
        self.address: str = address
        self.service = self.zeep.create_service(port.binding.name, address)

    def call(self, operation: str, headers: dict[str, Any] | None = None, **body: Any) -> requests.Response:
        """Post one operation and return its raw 200 response.

        A fresh ``tokenPassport`` is signed for the call. HTTP errors and SOAP faults are raised as
        classified :class:`tandem.errors.SyncError`; nothing is retried here.

        Args:
            operation: the WSDL operation name (``upsertList``, ``search`` ...).
            headers: extra SOAP headers by element name (``searchPreferences`` ...).
            **body: the operation's body parts.

        Returns:
            The raw HTTP response (status 200, no fault) for the caller to parse with lxml.
        """
        soap_headers = {"tokenPassport": self._signer.passport().as_header(), **(headers or {})}
        try:
            with self.zeep.settings(raw_response=True):
                response: requests.Response = getattr(self.service, operation)(
                    **body, _soapheaders=soap_headers
                )
        except Exception as exc:
            raise classify_exception(exc, operation) from exc
        error = classify_http(response, operation)
        if error is not None:
            raise error
        return response

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
