"""Test helpers: a zeep client over the running ERP emulator that signs every call with a fresh tokenPassport,
and a raw poster for hand-written envelopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import requests
import zeep
from zeep.transports import Transport

from tests.support.emulator import RunningEmulator

MSGS = "urn:messages_2023_2.platform.webservices.netsuite.com"
FAULTS = "urn:faults_2023_2.platform.webservices.netsuite.com"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
NAMESPACES = {
    "soapenv": SOAPENV,
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "platformMsgs": MSGS,
    "platformCore": "urn:core_2023_2.platform.webservices.netsuite.com",
    "platformCommon": "urn:common_2023_2.platform.webservices.netsuite.com",
    "listRel": "urn:relationships_2023_2.lists.webservices.netsuite.com",
    "actSched": "urn:scheduling_2023_2.activities.webservices.netsuite.com",
}


def signature(account: str, consumer_key: str, token_id: str, nonce: str, timestamp: int,
              consumer_secret: str, token_secret: str) -> str:
    """NetSuite's TBA signature, computed independently of the emulator's code."""
    base = f"{account}&{consumer_key}&{token_id}&{nonce}&{timestamp}".encode()
    key = f"{consumer_secret}&{token_secret}".encode()
    return base64.b64encode(hmac.new(key, base, hashlib.sha256).digest()).decode()


class ErpClient:
    """zeep over the emulator's served WSDL; every call carries a freshly signed passport."""

    def __init__(self, emulator: RunningEmulator, timeout: float = 30.0) -> None:
        self.emulator = emulator
        self.info = emulator.info
        self.session = emulator.session()
        self.timeout = timeout
        transport = Transport(session=self.session, timeout=timeout, operation_timeout=timeout)
        self.zeep = zeep.Client(self.info["wsdl_url"], transport=transport)
        self.service = self.zeep.service
        self.last_header: Any = None
        self.clock_offset = 0.0
        self._types = {getattr(t, "name", None): t for t in self.zeep.wsdl.types.types}

    def type(self, name: str) -> Any:
        """A WSDL type by local name (``Customer``, ``RecordRef``, ``TaskSearchBasic``)."""
        return self._types[name]

    def ref(self, record_type: str, **parts: str) -> Any:
        """A RecordRef value."""
        return self.type("RecordRef")(type=record_type, **parts)

    def sync_clock(self) -> None:
        """Follow the emulator clock, so passports are not stale after the tests move it."""
        self.clock_offset = float(self.emulator.control("GET", "clock")["offset_seconds"])

    def passport_values(self, **overrides: Any) -> dict[str, Any]:
        """The passport's fields, correctly signed unless overridden."""
        values: dict[str, Any] = {
            "account": self.info["account"], "consumerKey": self.info["consumer_key"],
            "token": self.info["token_id"], "nonce": secrets.token_hex(12),
            "timestamp": int(time.time() + self.clock_offset),
        }
        secret = overrides.pop("consumer_secret", self.info["consumer_secret"])
        values.update({k: v for k, v in overrides.items() if k not in ("signature", "algorithm")})
        values["signature"] = overrides.get("signature") or signature(
            values["account"], values["consumerKey"], values["token"], values["nonce"], values["timestamp"],
            secret, self.info["token_secret"],
        )
        values["algorithm"] = overrides.get("algorithm", "HMAC-SHA256")
        return values

    def passport(self, **overrides: Any) -> Any:
        """A ``tokenPassport`` header element for zeep."""
        values = self.passport_values(**overrides)
        element = self.zeep.get_element(f"{{{MSGS}}}tokenPassport")
        return element(
            account=values["account"], consumerKey=values["consumerKey"], token=values["token"],
            nonce=values["nonce"], timestamp=values["timestamp"],
            signature={"_value_1": values["signature"], "algorithm": values["algorithm"]},
        )

    def call(self, operation: str, *, page_size: int | None = None, passport: Any = None, **kwargs: Any) -> Any:
        """Call an operation with a fresh passport (and ``searchPreferences.pageSize`` when given)."""
        headers: dict[str, Any] = {"tokenPassport": passport if passport is not None else self.passport()}
        if page_size is not None:
            headers["searchPreferences"] = self.zeep.get_element(f"{{{MSGS}}}searchPreferences")(pageSize=page_size)
        result = getattr(self.service, operation)(_soapheaders=headers, **kwargs)
        self.last_header = result.header
        values = list(result.body.__values__.values())
        return values[0] if len(values) == 1 else result.body

    def raw(self, body: str, action: str, *, header: str | None = None, sign: bool = True) -> requests.Response:
        """Post a hand-written body (with the prefixes of ``NAMESPACES``) in a signed envelope."""
        head = header if header is not None else (self.raw_passport() if sign else "")
        declarations = " ".join(f'xmlns:{p}="{u}"' for p, u in NAMESPACES.items())
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope {declarations}>'
                    f"<soapenv:Header>{head}</soapenv:Header><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>")
        return self.post(envelope.encode(), action)

    def post(self, data: bytes, action: str) -> requests.Response:
        """Post bytes to the SOAP endpoint with a SOAPAction."""
        return self.session.post(
            self.info["endpoint"], data=data, timeout=self.timeout,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'},
        )

    def raw_passport(self, **overrides: Any) -> str:
        """A signed ``tokenPassport`` header block as XML text."""
        v = self.passport_values(**overrides)
        return (f"<platformMsgs:tokenPassport><platformCore:account>{v['account']}</platformCore:account>"
                f"<platformCore:consumerKey>{v['consumerKey']}</platformCore:consumerKey>"
                f"<platformCore:token>{v['token']}</platformCore:token>"
                f"<platformCore:nonce>{v['nonce']}</platformCore:nonce>"
                f"<platformCore:timestamp>{v['timestamp']}</platformCore:timestamp>"
                f'<platformCore:signature algorithm="{v["algorithm"]}">{v["signature"]}</platformCore:signature>'
                "</platformMsgs:tokenPassport>")


def fault_code(fault: zeep.exceptions.Fault) -> str | None:
    """The NetSuite code in a zeep fault's detail (``None`` when it has no detail)."""
    if fault.detail is None:
        return None
    found = fault.detail.find(f".//{{{FAULTS}}}code")
    return found.text if found is not None else None


def fault_name(fault: zeep.exceptions.Fault) -> str | None:
    """The local name of the fault's detail element (``invalidSessionFault``)."""
    if fault.detail is None or len(fault.detail) == 0:
        return None
    return str(fault.detail[0].tag).split("}")[-1]


def errors(response: Any) -> list[str]:
    """Codes of the statusDetails of a write or read response."""
    return [d.code for d in response.status.statusDetail]
