"""Pure logic of the ERP adapter: passport signing, fault classification, Retry-After, backoff."""

from __future__ import annotations

import ssl

import pandas as pd
import pytest
import requests
from lxml import etree

from tandem.erp.errors import classify_exception, classify_fault, parse_fault, retry_after_seconds
from tandem.erp.parsing import parse_body, records_frame
from tandem.erp.passport import PassportSigner
from tandem.errors import FatalSyncError, RetryableSyncError, is_retryable

SIGNER = PassportSigner(
    account="1234567", consumer_key="ck", consumer_secret="cs", token_id="tok", token_secret="ts"
)


def fault_body(name: str, code: str, message: str = "nope") -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body><soapenv:Fault><faultcode>soapenv:Server</faultcode>"
        f"<faultstring>{message}</faultstring><detail>"
        f'<platformFaults:{name} xmlns:platformFaults="urn:faults_2023_2.platform.webservices.netsuite.com">'
        f"<platformFaults:code>{code}</platformFaults:code>"
        f"<platformFaults:message>{message}</platformFaults:message>"
        f"</platformFaults:{name}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_signature_matches_openssl_vector() -> None:
    # echo -n "1234567&ck&tok&abcdef123456&1700000000" | openssl dgst -sha256 -hmac "cs&ts" -binary | base64
    passport = SIGNER.passport(now=1_700_000_000, nonce="abcdef123456")
    assert passport.signature == "Z4wQJaVltRnL4WkFdjvfYkRva9o9K3u06s6zWlLYomo="
    assert passport.timestamp == 1_700_000_000


def test_every_passport_is_fresh_and_hides_secrets() -> None:
    first, second = SIGNER.passport(), SIGNER.passport()
    assert first.nonce != second.nonce
    assert first.nonce.isalnum() and 6 <= len(first.nonce) <= 64
    assert "cs" not in repr(SIGNER).replace("consumer_key", "")
    assert "ts" not in repr(SIGNER).replace("timestamp", "")
    assert first.signature not in repr(first)


def test_faults_classified_by_code_and_name() -> None:
    blocked = parse_fault(fault_body("exceededConcurrentRequestLimitFault", "WS_REQUEST_BLOCKED"))
    assert blocked is not None and blocked.code == "WS_REQUEST_BLOCKED"
    assert isinstance(classify_fault(blocked, "search"), RetryableSyncError)
    for name, code in [
        ("invalidSessionFault", "INVALID_LOGIN_ATTEMPT"),
        ("exceededRecordCountFault", "MAX_RCRDS_EXCEEDED"),
        ("invalidSessionFault", "INVALID_PAGE_INDEX"),
    ]:
        fault = parse_fault(fault_body(name, code))
        assert fault is not None
        error = classify_fault(fault, "upsertList")
        assert isinstance(error, FatalSyncError) and error.code == code and error.system == "erp"
        assert not is_retryable(error)


def test_fault_parsing_ignores_entities() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>&e;</faultstring>"
        b"</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    fault = parse_fault(body)
    assert fault is not None and "root" not in fault.message


def test_transport_exceptions() -> None:
    assert classify_exception(requests.ReadTimeout(), "search").code == "TIMEOUT"
    assert is_retryable(classify_exception(requests.ConnectTimeout(), "search"))
    assert is_retryable(classify_exception(requests.ConnectionError("reset"), "getList"))
    untrusted = requests.exceptions.SSLError(ssl.SSLCertVerificationError("certificate verify failed"))
    assert classify_exception(untrusted, "getList").code == "TLS_ERROR"
    dropped = requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert classify_exception(dropped, "getList").code == "CONNECTION_ERROR"
    with pytest.raises(etree.XMLSyntaxError) as not_xml:
        etree.fromstring(b"<unclosed")
    assert classify_exception(not_xml.value, "search").code == "MALFORMED_RESPONSE"


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"}, now=1_700_000_000) == 10.0
    assert retry_after_seconds({}) is None


def test_a_fault_inside_http_200_is_classified_when_parsed() -> None:
    with pytest.raises(RetryableSyncError) as caught:
        parse_body(fault_body("exceededConcurrentRequestLimitFault", "WS_REQUEST_BLOCKED"), "getList")
    assert caught.value.code == "WS_REQUEST_BLOCKED"
    client_fault = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>creditLimit: 'secret-ish' is not"
        b" a valid double.</faultstring>"
        b"</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    with pytest.raises(FatalSyncError) as malformed:
        parse_body(client_fault, "upsertList")
    assert malformed.value.code == "MALFORMED_REQUEST" and "secret-ish" not in str(malformed.value)


def test_records_flatten_references_and_keep_columns_on_empty_pages() -> None:
    page = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        b' xmlns:c="urn:core_2023_2.platform.webservices.netsuite.com"'
        b' xmlns:r="urn:relationships_2023_2.lists.webservices.netsuite.com"><soapenv:Body><searchResponse>'
        b'<c:record internalId="7" externalId="E7"><r:companyName>Acme</r:companyName>'
        b'<r:salesRep internalId="3" externalId="EMP3"><c:name>Pat</c:name></r:salesRep>'
        b"<r:lastModifiedDate>2024-05-01T10:15:30.123Z</r:lastModifiedDate></c:record>"
        b'<c:record internalId="8"><r:lastModifiedDate>2024-05-01T10:15:31.000-07:00</r:lastModifiedDate>'
        b"</c:record></searchResponse></soapenv:Body></soapenv:Envelope>"
    )
    records = list(parse_body(page, "search"))
    fields = ["externalId", "companyName", "salesRep", "terms.internalId"]

    frame = records_frame(records, fields, references={"salesRep", "terms"})
    empty = records_frame([], fields, references={"salesRep", "terms"})

    assert list(frame.columns) == list(empty.columns) == [
        "id", "modified_at", "externalId", "companyName",
        "salesRep.internalId", "salesRep.externalId", "salesRep.name", "terms.internalId",
    ]
    assert frame.iloc[0].to_dict() | {"modified_at": None} == {
        "id": "7", "modified_at": None, "externalId": "E7", "companyName": "Acme",
        "salesRep.internalId": "3", "salesRep.externalId": "EMP3", "salesRep.name": "Pat", "terms.internalId": None,
    }
    assert frame["modified_at"].iloc[1] == pd.Timestamp("2024-05-01T17:15:31Z")
    assert pd.isna(frame.iloc[1]["companyName"])
