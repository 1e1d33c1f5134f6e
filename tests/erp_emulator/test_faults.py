"""Malformed and hostile requests, injected faults, call counters, and WS_REQUEST_BLOCKED under concurrency."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import zeep
from lxml import etree

from tests.erp_emulator.soap import SOAPENV, ErpClient, fault_code, fault_name
from tests.support.emulator import RunningEmulator

PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _fault(response: requests.Response) -> tuple[str, str, str | None]:
    root = etree.fromstring(response.content, PARSER)
    fault = root.find(f".//{{{SOAPENV}}}Fault")
    assert fault is not None
    code = fault.find(".//{urn:faults_2023_2.platform.webservices.netsuite.com}code")
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or "", None if code is None else code.text


def test_malformed_xml_is_a_client_fault(erp: ErpClient) -> None:
    response = erp.post(b"<soapenv:Envelope><not-closed>", "upsertList")
    assert response.status_code == 500
    assert _fault(response)[0] == "soapenv:Client"


def test_not_an_envelope_and_empty_body(erp: ErpClient) -> None:
    assert _fault(erp.post(b"<hello/>", "search"))[0] == "soapenv:Client"
    assert _fault(erp.post(b"", "search"))[0] == "soapenv:Client"
    assert _fault(erp.raw("", "search"))[0] == "soapenv:Client"


def test_entity_declarations_refused_never_expanded(erp: ErpClient) -> None:
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">'
        '<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Body>'
        '<getList xmlns="urn:messages_2023_2.platform.webservices.netsuite.com"><baseRef>&secret;&lol2;</baseRef>'
        "</getList></soapenv:Body></soapenv:Envelope>"
    ).encode()
    response = erp.post(hostile, "getList")
    assert response.status_code == 500
    faultcode, faultstring, _ = _fault(response)
    assert faultcode == "soapenv:Client" and "DOCTYPE" in faultstring
    assert b"root:" not in response.content and b"lollol" not in response.content


def test_wrong_value_types_are_client_faults(erp: ErpClient, tag: str) -> None:
    for field, value in [("creditLimit", "lots"), ("isInactive", "maybe"), ("dateCreated", "yesterday")]:
        body = (f'<platformMsgs:upsertList><platformMsgs:record xsi:type="listRel:Customer" externalId="{tag}">'
                f"<listRel:companyName>X</listRel:companyName><listRel:{field}>{value}</listRel:{field}>"
                "</platformMsgs:record></platformMsgs:upsertList>")
        response = erp.raw(body, "upsertList")
        assert response.status_code == 500 and _fault(response)[0] == "soapenv:Client", field
    unknown_field = (f'<platformMsgs:upsertList><platformMsgs:record xsi:type="listRel:Customer" externalId="{tag}">'
                     "<listRel:favouriteColour>blue</listRel:favouriteColour></platformMsgs:record>"
                     "</platformMsgs:upsertList>")
    assert _fault(erp.raw(unknown_field, "upsertList"))[0] == "soapenv:Client"
    unknown_type = ('<platformMsgs:upsertList><platformMsgs:record xsi:type="listRel:Spaceship" externalId="x"/>'
                    "</platformMsgs:upsertList>")
    assert _fault(erp.raw(unknown_type, "upsertList"))[0] == "soapenv:Client"
    unknown_operation = "<platformMsgs:launchRocket/>"
    assert _fault(erp.raw(unknown_operation, "launchRocket"))[0] == "soapenv:Client"
    read = erp.call("getList", baseRef=[erp.ref("customer", externalId=tag)])
    assert not read.readResponse[0].status.isSuccess


@pytest.mark.parametrize(("kind", "status"), [("http_503", 503), ("http_429", 429)])
def test_injected_http_errors(erp_emulator: RunningEmulator, erp: ErpClient, kind: str, status: int) -> None:
    erp_emulator.control("POST", "faults", json={"pattern": "upsertList", "kind": kind, "count": 1})
    with pytest.raises(zeep.exceptions.TransportError) as caught:
        erp.call("upsertList", record=[erp.type("Term")(externalId="never", name="x")])
    assert caught.value.status_code == status
    assert erp.call("getList", baseRef=[erp.ref("term", externalId="never")]).readResponse[0].status.isSuccess is False


@pytest.mark.parametrize(("code", "element"), [(None, "exceededConcurrentRequestLimitFault"),
                                               ("WS_REQUEST_BLOCKED", "exceededConcurrentRequestLimitFault"),
                                               ("INVALID_LOGIN_ATTEMPT", "invalidSessionFault"),
                                               ("UNEXPECTED_ERROR", "unexpectedErrorFault")])
def test_injected_soap_faults(erp_emulator: RunningEmulator, erp: ErpClient, code: str | None, element: str) -> None:
    rule: dict[str, object] = {"pattern": "search$", "kind": "soap_fault", "count": 1}
    if code:
        rule["code"] = code
    erp_emulator.control("POST", "faults", json=rule)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("search", searchRecord=erp.type("TermSearchBasic")())
    assert fault_code(caught.value) == (code or "WS_REQUEST_BLOCKED") and fault_name(caught.value) == element
    assert erp.call("search", searchRecord=erp.type("TermSearchBasic")()).status.isSuccess


def test_connection_reset_and_commit_then_drop(erp_emulator: RunningEmulator, erp: ErpClient, tag: str) -> None:
    Term = erp.type("Term")
    erp_emulator.control("POST", "faults", json={"pattern": "upsertList", "kind": "reset", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        erp.call("upsertList", record=[Term(externalId=f"{tag}-reset", name="Reset")])
    lost = erp.call("getList", baseRef=[erp.ref("term", externalId=f"{tag}-reset")]).readResponse[0]
    assert not lost.status.isSuccess
    erp_emulator.control("POST", "faults", json={"pattern": "upsertList", "kind": "commit_then_drop", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        erp.call("upsertList", record=[Term(externalId=f"{tag}-kept", name="Kept")])
    kept = erp.call("getList", baseRef=[erp.ref("term", externalId=f"{tag}-kept")]).readResponse[0]
    assert kept.status.isSuccess and kept.record.name == "Kept"


def test_counters_per_operation(erp_emulator: RunningEmulator, erp: ErpClient) -> None:
    erp_emulator.control("DELETE", "counters")
    erp.call("getList", baseRef=[erp.ref("term", internalId="1")])
    erp.call("getList", baseRef=[erp.ref("term", internalId="2")])
    erp.call("search", searchRecord=erp.type("TermSearchBasic")())
    counts = erp_emulator.control("GET", "counters")
    assert counts["by_endpoint"] == {"getList": 2, "search": 1} and counts["total"] == 3


def test_ws_request_blocked_beyond_the_concurrency_limit(erp_emulator: RunningEmulator, erp: ErpClient) -> None:
    limit = int(erp_emulator.info["max_concurrency"])
    erp_emulator.control("POST", "faults", json={"pattern": "getList", "kind": "latency", "latency_ms": 1500,
                                                 "count": limit})
    held: list[object] = []
    clients = [ErpClient(erp_emulator) for _ in range(limit)]  # built first: loading the WSDL takes a while

    def slow_call(client: ErpClient) -> None:
        held.append(client.call("getList", baseRef=[client.ref("term", internalId="1")]))

    threads = [threading.Thread(target=slow_call, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    time.sleep(0.7)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("search", searchRecord=erp.type("TermSearchBasic")())
    assert fault_code(caught.value) == "WS_REQUEST_BLOCKED"
    assert fault_name(caught.value) == "exceededConcurrentRequestLimitFault"
    for thread in threads:
        thread.join(timeout=30)
    assert len(held) == limit
    assert erp.call("search", searchRecord=erp.type("TermSearchBasic")()).status.isSuccess
