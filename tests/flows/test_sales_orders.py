"""Sales orders from Salesforce to the ERP, through the engine against both emulators (no flow run: the
behaviour is the engine's). Prerequisites are coupled by hand, as a person would before submitting orders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import SecretStr
from simple_salesforce import Salesforce
from sqlmodel import select

from blocks.store import StateStore
from tandem.erp.adapter import ErpAdapter
from tandem.mapping import MAPPINGS_DIR, Direction, load_mapping_set
from tandem.store import require_id, session_scope
from tandem.store.tables import Binding, BindingStatus
from tandem.store.types import utc_now
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass
from tandem.sync.jobs import run_entity_job
from tandem.sync.manual_coupling import Pair, couple_pairs
from tandem.sync.pairing import register_connection
from tests.flows.clients import erp_client, erp_record, erp_write, salesforce
from tests.flows.conftest import erp_block, salesforce_block
from tests.support.emulator import RunningEmulator

#: ERP demo records the orders use: a customer billed in US dollars, an inventory item and a service item.
ITEM, SERVICE = "ITEM-001", "SRV-001"


@dataclass
class World:
    """The engine's context, both systems' clients and the records of the story."""

    context: SyncContext
    sf: Salesforce
    erp: ErpAdapter
    account: str
    customer: dict[str, Any]
    products: dict[str, str]  # ERP item externalId (or "loose") -> Salesforce Product2 id
    pricebook: str
    entries: dict[str, str]  # Product2 id -> PricebookEntry id

    def order(self, *lines: tuple[str, float], submit: bool = True) -> str:
        """A Salesforce order of the account with these (product, quantity) lines, at 1.00 apiece in Salesforce."""
        order = self.sf.Order.create({"AccountId": self.account, "EffectiveDate": "2026-12-01", "Status": "Draft",
                                      "Pricebook2Id": self.pricebook, "Submit_to_ERP__c": submit,
                                      "Description": "Order from the field"})["id"]
        for product, quantity in lines:
            self.sf.OrderItem.create({"OrderId": order, "PricebookEntryId": self.entries[product],
                                      "Product2Id": product, "Quantity": quantity, "UnitPrice": 1.0})
        return str(order)

    def couple(self, entity: str, crm_id: str, erp_id: str) -> None:
        """Couple two records by hand."""
        result = couple_pairs(self.context, self.context.mappings.entity(entity), [Pair(crm_id, erp_id)])
        assert not result.refused, [r.line() for r in result.refused]

    def erp_price(self, item: dict[str, Any]) -> float:
        """The ERP's price of ``item`` for the customer's price level in US dollars."""
        key = (f"{item['type']}:{item['id']}:{self.customer['priceLevel.internalId']}:"
               f"{self.customer['currency.internalId']}")
        frame = self.erp.read_by_keys("itemPrice", "externalId", [key], fields=["unitPrice"])
        return float(frame.iloc[0]["unitPrice"])


@pytest.fixture
def world(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> World:
    crm, erp = fresh
    sf, adapter = salesforce(crm), erp_client(erp)
    store = StateStore(url=SecretStr(f"sqlite:///{tmp_path / 'state.sqlite3'}")).get_engine()
    crm_adapter = salesforce_block(crm).get_client()
    org_id, _ = crm_adapter.organization()
    connection = register_connection(store, name="orders", environment="production", crm_org_id=org_id,
                                      erp_account=erp_block(erp).account_id)
    context = SyncContext(connection_id=require_id(connection), store=store, crm=crm_adapter, erp=adapter,
                          mappings=load_mapping_set(MAPPINGS_DIR / "default.yaml"), started_at=utc_now())
    usd = erp_record(adapter, "currency", "CUR-USD", ["symbol"])
    customers = adapter.read_by_keys("customer", "externalId", [f"CUST-{i:04d}" for i in range(1, 30)],
                                     fields=["companyName", "currency.internalId", "priceLevel.internalId"])
    customer = next(c for c in customers.to_dict("records") if c["currency.internalId"] == usd["id"])
    account = str(sf.Account.create({"Name": str(customer["companyName"])})["id"])
    products = {name: str(sf.Product2.create({"Name": f"Order test {name}", "ProductCode": f"T-{name}"})["id"])
                for name in (ITEM, SERVICE, "loose")}
    pricebook = str(sf.Pricebook2.create({"Name": "Order test prices"})["id"])
    entries = {product: str(sf.PricebookEntry.create({"Pricebook2Id": pricebook, "Product2Id": product,
                                                      "UnitPrice": 1.0, "CurrencyIsoCode": "USD"})["id"])
               for product in products.values()}
    world = World(context, sf, adapter, account, customer, products, pricebook, entries)
    [currency_type] = sf.query("SELECT Id FROM CurrencyType WHERE IsoCode = 'USD'")["records"]
    world.couple("currency", currency_type["Id"], str(usd["id"]))
    world.couple("customer", account, str(customer["id"]))
    world.couple("price_group", pricebook, str(customer["priceLevel.internalId"]))
    for external_id, record_type in ((ITEM, "inventoryItem"), (SERVICE, "serviceSaleItem")):
        world.couple("item" if record_type == "inventoryItem" else "resource", products[external_id],
                     str(erp_record(adapter, record_type, external_id, ["itemId"])["id"]))
    return world


def _erp_order(world: World, order: str) -> dict[str, Any]:
    return erp_record(world.erp, "salesOrder", order, ["tranId", "orderStatus", "total", "entity.internalId"])


def _erp_lines(world: World, internal_id: str) -> list[tuple[str, float, float]]:
    """The ERP order's lines as (item internalId, quantity, rate), read over the wire."""
    response = world.erp._call("getList", baseRef=[world.erp.types.record_ref("salesOrder", internalId=internal_id)])
    lines = next(response.iter("{*}itemList"))
    return [(str(line.find("{*}item").get("internalId")), float(line.findtext("{*}quantity") or 0),
             float(line.findtext("{*}rate") or 0)) for line in lines if etree.QName(line).localname == "item"]


def _sales_order_count(world: World) -> int:
    return sum(len(page) for page in world.erp.read_changed_since("salesOrder", None, fields=["tranId"],
                                                                    page_size=1000))


def test_a_submitted_order_is_priced_by_the_erp_and_its_number_and_status_come_back(world: World) -> None:
    item = erp_record(world.erp, "inventoryItem", ITEM, ["itemId"]) | {"type": "inventoryItem"}
    service = erp_record(world.erp, "serviceSaleItem", SERVICE, ["itemId"]) | {"type": "serviceSaleItem"}
    order = world.order((world.products[ITEM], 3), (world.products[SERVICE], 2))
    draft = world.order((world.products[ITEM], 1), submit=False)
    before = _sales_order_count(world)

    report = run_entity_job(world.context, "crm_order")
    assert (report.counts.inserted, report.counts.failed) == (1, 0), report
    created = _erp_order(world, order)
    assert str(created["entity.internalId"]) == str(world.customer["id"])
    # Priced from the ERP's matrix for the customer's price level (Salesforce said 1.00 apiece).
    rates = {"item": world.erp_price(item), "service": world.erp_price(service)}
    assert _erp_lines(world, str(created["id"])) == [
        (str(item["id"]), 3.0, rates["item"]), (str(service["id"]), 2.0, rates["service"])]
    assert float(created["total"]) == pytest.approx(round(3 * rates["item"], 2) + round(2 * rates["service"], 2))
    with pytest.raises(AssertionError):
        erp_record(world.erp, "salesOrder", draft, ["tranId"])  # not submitted: stays in Salesforce

    status = run_entity_job(world.context, "crm_order_status")
    assert status.counts.coupled == 1 and status.counts.inserted == 0, status  # never creates an order
    back = world.sf.Order.get(order)
    assert (back["ERP_Order_Number__c"], back["ERP_Status__c"]) == (created["tranId"], "Pending Approval")
    assert back["ERP_Id__c"] == order  # the link key, the ERP order's externalId

    # The ERP order is not shown again as an ERP sales order record (no echo).
    sales_order = world.context.mappings.entity("sales_order")
    echo = EntityPass(world.context, Route.of(sales_order, Direction.TO_CRM)).run_ids([str(created["id"])])
    assert echo.counts.inserted == 0 and echo.counts.skipped == 1, echo.counts
    assert not world.sf.query(f"SELECT Id FROM ERP_Sales_Order__c WHERE ERP_Id__c = '{order}'")["records"]

    # The ERP moves the order on: its new status comes back; a re-run creates nothing.
    erp_write(world.erp, "salesOrder", [{"externalId": order, "orderStatus": "_pendingFulfillment"}])
    again = run_entity_job(world.context, "crm_order")
    assert (again.counts.inserted, again.counts.modified, again.counts.failed) == (0, 0, 0), again
    moved = run_entity_job(world.context, "crm_order_status")
    assert moved.counts.modified == 1 and moved.counts.inserted == 0, moved
    assert world.sf.Order.get(order)["ERP_Status__c"] == "Pending Fulfillment"
    assert _sales_order_count(world) == before + 1


def test_an_order_with_an_uncoupled_product_fails_naming_it_while_another_order_syncs(world: World) -> None:
    loose = world.products["loose"]
    blocked = world.order((world.products[ITEM], 1), (loose, 1))
    good = world.order((world.products[SERVICE], 4))

    report = run_entity_job(world.context, "crm_order")
    assert (report.counts.inserted, report.counts.failed) == (1, 1), report
    [failure] = report.failures
    assert failure.record_id == blocked and failure.code == "UNRESOLVED_REFERENCE"
    assert f"item {loose} is not coupled" in failure.message
    with session_scope(world.context.store, write=False) as session:
        binding = session.exec(select(Binding).where(Binding.entity == "crm_order", Binding.crm_id == blocked)).one()
    assert binding.status is BindingStatus.FAILED and f"item {loose} is not coupled" in str(binding.error_message)
    erp_record(world.erp, "salesOrder", good, ["tranId"])

    # Once the product is coupled, the next run sends the order that failed (a retry: still one ERP order each).
    world.couple("item", loose, str(erp_record(world.erp, "inventoryItem", "ITEM-002", ["itemId"])["id"]))
    retried = run_entity_job(world.context, "crm_order")
    assert (retried.counts.inserted, retried.counts.failed) == (1, 0), retried
    assert len(_erp_lines(world, str(_erp_order(world, blocked)["id"]))) == 2
