"""Sales order lines: priced by the emulator from the items' pricing matrices, as NetSuite prices them."""

from __future__ import annotations

from tests.erp_emulator.soap import ErpClient, errors


def _setup(erp: ErpClient, tag: str) -> None:
    t, ref = erp.type, erp.ref
    erp.call("upsertList", record=[t("Currency")(externalId=f"{tag}-usd", name="Dollar", symbol="USD")])
    erp.call("upsertList", record=[t("PriceLevel")(externalId="base-price", name="Base Price", discountpct=0.0),
                                   t("PriceLevel")(externalId=f"{tag}-gold", name="Gold", discountpct=-10.0)])
    matrix = t("PricingMatrix")(pricing=[t("Pricing")(
        currency=ref("currency", externalId=f"{tag}-usd"), priceLevel=ref("priceLevel", externalId="base-price"),
        priceList=t("PriceList")(price=[t("Price")(value=10.0, quantity=0), t("Price")(value=8.0, quantity=10)]))])
    erp.call("upsertList", record=[t("InventoryItem")(externalId=f"{tag}-item", itemId=f"{tag}-SKU",
                                                      pricingMatrix=matrix),
                                   t("InventoryItem")(externalId=f"{tag}-free", itemId=f"{tag}-FREE")])
    erp.call("upsertList", record=[t("Customer")(externalId=f"{tag}-cust", companyName=f"{tag} Co",
                                                 currency=ref("currency", externalId=f"{tag}-usd"),
                                                 priceLevel=ref("priceLevel", externalId=f"{tag}-gold"))])


def _order(erp: ErpClient, tag: str, key: str, *lines: object) -> object:
    t = erp.type
    return erp.call("upsertList", record=[t("SalesOrder")(
        externalId=f"{tag}-{key}", entity=erp.ref("customer", externalId=f"{tag}-cust"),
        itemList=t("SalesOrderItemList")(item=list(lines)))]).writeResponse[0]


def test_lines_are_priced_from_the_matrix_for_the_customers_level(erp: ErpClient, tag: str) -> None:
    _setup(erp, tag)
    line, ref = erp.type("SalesOrderItem"), erp.ref
    item = ref("inventoryItem", externalId=f"{tag}-item")
    written = _order(erp, tag, "so",
                     line(item=item, quantity=2.0),  # Gold has no price of its own: Base Price less 10 %
                     line(item=item, quantity=12.0, price=ref("priceLevel", externalId="base-price")),  # a break
                     line(item=item, quantity=1.0, rate="5"))  # a rate sent stands
    assert written.status.isSuccess, errors(written)
    record = erp.call("getList", baseRef=[ref("salesOrder", externalId=f"{tag}-so")]).readResponse[0].record
    priced = [(float(i.rate), i.amount, i.line) for i in record.itemList.item]
    assert priced == [(9.0, 18.0, 1), (8.0, 96.0, 2), (5.0, 5.0, 3)]
    assert record.total == 119.0 and record.orderStatus == "_pendingApproval"
    assert record.tranId.startswith("SO") and record.currency.externalId == f"{tag}-usd"  # the customer's currency


def test_a_line_without_a_price_or_item_fails_its_order_alone(erp: ErpClient, tag: str) -> None:
    _setup(erp, tag)
    line, ref = erp.type("SalesOrderItem"), erp.ref
    unpriced = _order(erp, tag, "a", line(item=ref("inventoryItem", externalId=f"{tag}-free"), quantity=1.0))
    [detail] = unpriced.status.statusDetail
    assert (detail.code, detail.message) == ("USER_ERROR", f"The item {tag}-FREE has no price for the price level "
                                                           "Gold in Dollar.")
    unknown = _order(erp, tag, "b", line(item=ref("inventoryItem", externalId=f"{tag}-nothing"), quantity=1.0))
    assert errors(unknown) == ["INVALID_KEY_OR_REF"]
    assert not erp.call("getList", baseRef=[ref("salesOrder", externalId=f"{tag}-a")]).readResponse[0].status.isSuccess
