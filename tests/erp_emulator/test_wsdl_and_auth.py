"""The served WSDL and XSDs, and the tokenPassport checks (INVALID_LOGIN_ATTEMPT as NetSuite returns it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zeep
from lxml import etree

from tests.erp_emulator.soap import ErpClient, fault_code, fault_name
from tests.support.emulator import RunningEmulator, running_emulator


def test_wsdl_served_with_endpoint_rewritten(erp_emulator: RunningEmulator, erp: ErpClient) -> None:
    with erp_emulator.session() as session:
        response = session.get(erp_emulator.info["wsdl_url"], timeout=10)
    assert response.status_code == 200
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == erp_emulator.info["endpoint"]
    assert erp.service._binding_options["address"] == erp_emulator.info["endpoint"]
    operations = set(erp.zeep.wsdl.bindings[next(iter(erp.zeep.wsdl.bindings))]._operations)
    assert len(operations) == 47 and {"add", "get", "getAll", "searchNext", "getDataCenterUrls"} <= operations
    for name in ["Customer", "Contact", "Employee", "Currency", "UnitsType", "InventoryItem", "ServiceSaleItem",
                 "PriceLevel", "Term", "Location", "SalesOrder", "Invoice", "CustomRecord", "CustomRecordType", "Task"]:
        assert erp.type(name) is not None
    for name in ["TransactionSearchBasic", "ItemSearchBasic", "CustomerSearch", "TransactionSearch", "ItemSearch"]:
        assert erp.type(name) is not None
    for fictional in ["SalesOrderSearchBasic", "InvoiceSearchBasic", "InventoryItemSearchBasic", "ItemPrice"]:
        with pytest.raises(KeyError):
            erp.type(fictional)


def test_xsd_paths_cannot_escape(erp_emulator: RunningEmulator) -> None:
    with erp_emulator.session() as session:
        ok = session.get(f"{erp_emulator.base_url}/xsd/platform/v2023_2_0/core.xsd", timeout=10)
        escape = session.get(f"{erp_emulator.base_url}/xsd/..%2F..%2Fcli.py", timeout=10)
        missing = session.get(f"{erp_emulator.base_url}/xsd/platform/v2023_2_0/nope.xsd", timeout=10)
    assert ok.status_code == 200 and b"urn:core_2023_2.platform.webservices.netsuite.com" in ok.content
    assert escape.status_code == 404 and missing.status_code == 404


def _assert_invalid_login(erp: ErpClient, **overrides: object) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("getList", passport=erp.passport(**overrides), baseRef=[erp.ref("customer", internalId="1")])
    assert fault_name(caught.value) == "invalidSessionFault"
    assert fault_code(caught.value) == "INVALID_LOGIN_ATTEMPT"
    assert caught.value.message == "Invalid login attempt."


def test_valid_passport_accepted(erp: ErpClient) -> None:
    result = erp.call("getList", baseRef=[erp.ref("customer", internalId="999999")])
    assert result.status.isSuccess


@pytest.mark.parametrize(
    "overrides",
    [
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"consumer_secret": "wrong-secret"},
        {"token": "0" * 64},
        {"consumerKey": "f" * 64},
        {"account": "7654321"},
        {"algorithm": "HMAC-SHA1"},
    ],
    ids=["bad-signature", "signed-with-wrong-secret", "unknown-token", "unknown-consumer", "wrong-account",
         "wrong-algorithm"],
)
def test_bad_passports_refused(erp: ErpClient, overrides: dict[str, object]) -> None:
    _assert_invalid_login(erp, **overrides)


def test_stale_and_future_timestamps_refused(erp: ErpClient) -> None:
    import time

    _assert_invalid_login(erp, timestamp=int(time.time()) - 400)
    _assert_invalid_login(erp, timestamp=int(time.time()) + 400)


def test_stale_by_emulator_clock(erp_emulator: RunningEmulator, erp: ErpClient) -> None:
    erp_emulator.control("POST", "clock", json={"advance_seconds": 3600})
    _assert_invalid_login(erp)
    erp.sync_clock()
    assert erp.call("getList", baseRef=[erp.ref("customer", internalId="1")]).status.isSuccess


def test_reused_nonce_refused(erp: ErpClient) -> None:
    passport = erp.passport()
    assert erp.call("getList", passport=passport, baseRef=[erp.ref("customer", internalId="1")]).status.isSuccess
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("getList", passport=passport, baseRef=[erp.ref("customer", internalId="1")])
    assert fault_code(caught.value) == "INVALID_LOGIN_ATTEMPT"


def test_missing_passport_refused(erp: ErpClient) -> None:
    response = erp.raw('<platformMsgs:getList><platformMsgs:baseRef xsi:type="platformCore:RecordRef" '
                       'internalId="1" type="customer"/></platformMsgs:getList>', "getList", sign=False)
    assert response.status_code == 500
    assert b"INVALID_LOGIN_ATTEMPT" in response.content and b"invalidSessionFault" in response.content


def test_sandbox_account_over_tls(tmp_path: Path) -> None:
    with running_emulator("erp", tmp_path / "sb", "--account", "1234567_SB1", "--tls") as emulator:
        info = emulator.info
        assert info["account"] == "1234567_SB1" and info["is_sandbox"] is True
        assert info["base_url"].startswith("https://") and Path(info["ca_cert"]).is_file()
        client = ErpClient(emulator)
        assert client.call("getList", baseRef=[client.ref("customer", internalId="1")]).status.isSuccess
        with pytest.raises(zeep.exceptions.Fault) as caught:
            client.call("getList", passport=client.passport(account="1234567"),
                        baseRef=[client.ref("customer", internalId="1")])
        assert fault_code(caught.value) == "INVALID_LOGIN_ATTEMPT"


def test_production_account_is_not_sandbox(erp_emulator: RunningEmulator) -> None:
    assert erp_emulator.info["account"] == "1234567" and erp_emulator.info["is_sandbox"] is False
