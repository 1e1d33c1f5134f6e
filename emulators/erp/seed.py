"""The ``demo`` data set: a believable, deterministic ERP company (fixed random seed).

Sizes match the Salesforce demo org: 300 customers with 1 to 3 contacts each, 10 employees (sales
reps), 4 currencies, 3 units types, 40 inventory and 12 service (for sale) items with 5 prices each in
their pricing matrices (the inventory items with stock at each of the 3 locations), 4 price levels,
5 payment terms, 3 locations, 80 sales orders, 50 invoices, 25 contracts (``customrecord_contract`` custom
records) and 1,000 tasks.
Dates are relative to the emulator clock's day, so the same day gives the same data.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from emulators.erp.render import iso, iso_ms
from emulators.erp.requests_xml import ParsedRecord
from emulators.erp.schema import record_specs
from emulators.erp.store import ErpStore
from emulators.salesforce.seed import FIRST_NAMES as SALES_TEAM_FIRST
from emulators.salesforce.seed import LAST_NAMES as SALES_TEAM_LAST

SEED = 20232
HOUR_MS = 3_600_000
ACTIVE, EXPIRED = "2", "3"  # customlist_contract_status values
FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Lucas", "Mia", "Ethan", "Amara", "Kenji",
         "Priya", "Diego", "Hannah", "Omar", "Chloe", "Felix", "Ingrid", "Tomás", "Leila", "Ravi", "Nora", "Samuel"]
LAST = ["Johnson", "Nguyen", "Garcia", "Okafor", "Schmidt", "Rossi", "Tanaka", "Patel", "Kowalski", "Dubois",
        "Andersson", "Silva", "Murphy", "Cohen", "Haddad", "Fischer", "Moreau", "Kim", "Larsen", "Novak"]
PREFIX = ["North", "Blue", "Summit", "Cedar", "Harbor", "Iron", "Silver", "Prairie", "Granite", "Maple", "Coastal",
          "Pioneer", "Evergreen", "Redwood", "Atlas", "Beacon", "Crescent", "Falcon", "Horizon", "Keystone"]
CORE = ["Logistics", "Foods", "Dynamics", "Health", "Robotics", "Textiles", "Energy", "Analytics", "Outfitters",
        "Builders", "Pharma", "Media", "Motors", "Labs", "Farms", "Systems", "Marine", "Brewing", "Optics", "Tools"]
SUFFIX = ["Inc.", "LLC", "Ltd.", "GmbH", "Co.", "Group", "S.A.", "Corp."]
PRODUCTS = ["Pallet Jack", "Shelving Unit", "Safety Helmet", "Work Gloves", "LED Floodlight", "Cable Reel",
            "Tool Chest", "Air Compressor", "Label Printer", "Barcode Scanner", "Hand Truck", "Storage Bin",
            "Ladder", "Drill Set", "Extension Cord", "Floor Mat", "First Aid Kit", "Tape Dispenser",
            "Packing Table", "Stretch Wrap"]
SERVICES = ["Installation", "Annual Maintenance", "Onboarding Workshop", "Premium Support", "Site Survey",
            "Repair Call-out", "Training Day", "Consulting Hour", "Calibration", "Data Migration",
            "Extended Warranty", "Remote Monitoring"]
TASK_TITLES = ["Follow up on quote", "Call about renewal", "Send price list", "Schedule site visit",
               "Confirm delivery date", "Chase overdue invoice", "Prepare contract draft", "Check stock levels",
               "Book product demo", "Review credit limit", "Update contact details", "Send thank-you note"]


def _records(record_type: str, rows: list[tuple[str, dict[str, Any]]]) -> list[ParsedRecord | None]:
    spec = record_specs()[record_type]
    return [ParsedRecord(spec, external_id, values) for external_id, values in rows]


def _ref(record_type: str, external_id: str) -> dict[str, str]:
    return {"type": record_type, "externalId": external_id}


def _pricing(currency: str, level: str, price: float) -> dict[str, Any]:
    """One pricing matrix line: the base-quantity price of an item at a price level in a currency."""
    return {"currency": _ref("currency", currency), "priceLevel": _ref("priceLevel", level),
            "prices": [{"value": price, "quantity": None}]}


def _stock(item_index: int, location_count: int) -> dict[str, Any]:
    """An inventory item's stock at each demo location (its own random stream: the other demo data stays as it was).

    Every fifth item is out of stock at the last location, so a demo shows an empty shelf too.
    """
    rng = random.Random(SEED * 1000 + item_index)
    lines = []
    for location in range(location_count):
        on_hand = 0.0 if item_index % 5 == 0 and location == location_count - 1 else float(rng.randrange(0, 400))
        lines.append({"locationId": _ref("location", f"LOC-{location + 1}"), "quantityOnHand": on_hand,
                      "quantityCommitted": float(rng.randrange(0, int(on_hand) // 4 + 1)),
                      "quantityOnOrder": float(rng.choice([0, 0, 50, 100, 250])), "quantityBackOrdered": 0.0})
    return {"replaceAll": True, "locations": lines}


def demo_rows(day: datetime) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """The demo data as ``(record type, [(externalId, values)])`` in dependency order."""
    rng = random.Random(SEED)
    currencies = [("USD", "US Dollar", 1.0, True), ("EUR", "Euro", 1.08, False),
                  ("GBP", "British Pound", 1.27, False), ("CAD", "Canadian Dollar", 0.73, False)]
    data: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
    data.append(("currency", [(f"CUR-{code}", {"name": name, "symbol": code, "exchangeRate": rate,
                                                "isBaseCurrency": base, "currencyPrecision": 2, "isInactive": False})
                              for code, name, rate, base in currencies]))
    terms = [("Due on receipt", 0, 0.0), ("Net 15", 15, 0.0), ("Net 30", 30, 0.0), ("Net 60", 60, 0.0),
             ("2% 10 Net 30", 30, 2.0)]
    data.append(("term", [(f"TERM-{i + 1}", {"name": n, "daysUntilNetDue": d, "discountPercent": p})
                          for i, (n, d, p) in enumerate(terms)]))
    locations = [("Main Warehouse", "MW", "1 Harbour Road, Portland, OR"),
                 ("East Coast DC", "EC", "200 Industrial Way, Newark, NJ"),
                 ("West Coast DC", "WC", "45 Bayside Drive, Oakland, CA")]
    data.append(("location", [(f"LOC-{i + 1}", {"name": n, "tranPrefix": p, "addrText": a})
                              for i, (n, p, a) in enumerate(locations)]))
    units = [("Each", "Each", "ea"), ("Length", "Meter", "m"), ("Weight", "Kilogram", "kg")]
    data.append(("unitsType", [(f"UNIT-{i + 1}", {"name": n, "baseUnitName": b, "baseUnitAbbreviation": a})
                               for i, (n, b, a) in enumerate(units)]))
    levels = [("Base Price", 0.0), ("Wholesale", -10.0), ("Partner", -20.0), ("Online", -5.0)]
    data.append(("priceLevel", [(f"PL-{i + 1}", {"name": n, "discountpct": d}) for i, (n, d) in enumerate(levels)]))
    employees = []
    for i in range(10):
        # The sales reps are the Salesforce demo org's users: one company, two systems (coupled by e-mail).
        first, last = SALES_TEAM_FIRST[i], SALES_TEAM_LAST[i]
        login = f"{first.lower()}.{last.lower().replace(chr(39), '')}"
        values: dict[str, Any] = {
            "entityId": f"{first} {last}", "firstName": first, "lastName": last,
            "title": "Sales Manager" if i < 2 else "Account Executive", "isSalesRep": True,
            "email": f"{login}@tandem.example", "phone": f"+1 503 555 {1000 + i:04d}",
        }
        if i >= 2:
            values["supervisor"] = _ref("employee", f"EMP-{(i % 2) + 1:03d}")
        employees.append((f"EMP-{i + 1:03d}", values))
    data.append(("employee", employees))
    items = [(f"ITEM-{i + 1:03d}", {
        "itemId": f"SKU-{1000 + i}", "displayName": f"{PRODUCTS[i % len(PRODUCTS)]} {'ABCD'[i // len(PRODUCTS)]}",
        "salesDescription": f"{PRODUCTS[i % len(PRODUCTS)]}, model {'ABCD'[i // len(PRODUCTS)]}",
        "upcCode": f"0{rng.randrange(10**10, 10**11)}", "unitsType": _ref("unitsType", "UNIT-1"),
        "cost": round(rng.uniform(5, 400), 2)}) for i in range(40)]
    services = [(f"SRV-{i + 1:03d}", {"itemId": f"SRV-{200 + i}", "displayName": name, "salesDescription": name,
                                     "unitsType": _ref("unitsType", "UNIT-1")}) for i, name in enumerate(SERVICES)]
    for _, values in items + services:
        # Prices live in the item's pricing matrix (price level x currency), as in NetSuite.
        cost = values.get("cost")
        base = round((cost if isinstance(cost, float) else rng.uniform(80, 900)) * rng.uniform(1.3, 2.2), 2)
        lines = [_pricing("CUR-USD", f"PL-{level + 1}", round(base * (1 + discount / 100), 2))
                 for level, (_, discount) in enumerate(levels)]
        lines.append(_pricing("CUR-EUR", "PL-1", round(base / 1.08, 2)))
        values["pricingMatrix"] = {"replaceAll": True, "pricing": lines}
    for index, (_, values) in enumerate(items):
        values["locationsList"] = _stock(index, len(locations))
    data.append(("inventoryItem", items))
    data.append(("serviceSaleItem", services))
    customers, contacts, names = [], [], set()
    for i in range(300):
        name = f"{rng.choice(PREFIX)} {rng.choice(CORE)} {rng.choice(SUFFIX)}"
        while name in names:
            name = f"{rng.choice(PREFIX)} {rng.choice(CORE)} {rng.choice(SUFFIX)}"
        names.add(name)
        domain = name.split()[0].lower() + name.split()[1].lower() + ".example"
        currency = rng.choices(["USD", "EUR", "GBP", "CAD"], weights=[70, 15, 10, 5])[0]
        customer_id = f"CUST-{i + 1:04d}"
        customers.append((customer_id, {
            "entityId": f"C{10000 + i}", "companyName": name, "phone": f"+1 {rng.randrange(200, 990)} 555 "
            f"{rng.randrange(0, 10000):04d}", "email": f"accounts@{domain}", "url": f"https://www.{domain}",
            "defaultAddress": f"{rng.randrange(1, 999)} {rng.choice(PREFIX)} Street", "isInactive": i % 37 == 0,
            "salesRep": _ref("employee", f"EMP-{rng.randrange(1, 11):03d}"),
            "terms": _ref("term", f"TERM-{rng.randrange(1, 6)}"), "creditLimit": float(rng.randrange(5, 200) * 1000),
            "priceLevel": _ref("priceLevel", f"PL-{rng.randrange(1, 5)}"),
            "currency": _ref("currency", f"CUR-{currency}")}))
        for j in range(rng.randrange(1, 4)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contacts.append((f"CONT-{i + 1:04d}-{j + 1}", {
                "entityId": f"{first} {last}", "company": _ref("customer", customer_id), "firstName": first,
                "lastName": last, "title": rng.choice(["Buyer", "CFO", "Office Manager", "Operations Lead", "CEO"]),
                "email": f"{first.lower()}.{last.lower()}@{domain}", "phone": f"+1 555 {rng.randrange(0, 10**7):07d}"}))
    data.append(("customer", customers))
    data.append(("contact", contacts))
    orders = []
    statuses = ["_pendingApproval", "_pendingFulfillment", "_pendingBilling", "_fullyBilled", "_closed"]
    for i in range(80):
        customer_id, customer = rng.choice(customers)
        orders.append((f"SO-{i + 1:04d}", {
            "tranId": f"SO{5000 + i}", "entity": _ref("customer", customer_id),
            "tranDate": iso(day - timedelta(days=rng.randrange(1, 180))), "orderStatus": rng.choice(statuses),
            "currency": customer["currency"], "salesRep": customer["salesRep"], "terms": customer["terms"],
            "location": _ref("location", f"LOC-{rng.randrange(1, 4)}"), "total": round(rng.uniform(200, 25000), 2)}))
    data.append(("salesOrder", orders))
    invoices = []
    for i, (order_id, order) in enumerate(orders[:50]):
        invoice_date = datetime.fromisoformat(str(order["tranDate"])) + timedelta(days=rng.randrange(1, 20))
        invoices.append((f"INV-{i + 1:04d}", {
            "tranId": f"INV{7000 + i}", "entity": order["entity"], "createdFrom": _ref("salesOrder", order_id),
            "tranDate": iso(invoice_date), "dueDate": iso(invoice_date + timedelta(days=30)),
            "currency": order["currency"], "salesRep": order["salesRep"], "terms": order["terms"],
            "location": order["location"], "total": order["total"]}))
    data.append(("invoice", invoices))
    contracts = []
    for i in range(25):
        customer_id, customer = rng.choice(customers)
        start = day - timedelta(days=rng.randrange(0, 700))
        contracts.append((f"CON-{i + 1:04d}", {  # a custom record (emulators/erp/custom_records.py)
            "name": f"CTR{300 + i}", "custrecord_contract_customer": _ref("customer", customer_id),
            "custrecord_contract_status": {"internalId": ACTIVE if start > day - timedelta(days=365) else EXPIRED},
            "custrecord_contract_start": iso(start), "custrecord_contract_end": iso(start + timedelta(days=365)),
            "custrecord_contract_currency": customer["currency"], "custrecord_contract_sales_rep": customer["salesRep"],
            "custrecord_contract_value": float(rng.randrange(12, 240) * 500)}))
    data.append(("customrecord_contract", contracts))
    tasks = []
    for i in range(1000):
        customer_id, customer = rng.choice(customers)
        status = rng.choices(["_notStarted", "_inProgress", "_completed", "_deferred"], weights=[45, 20, 30, 5])[0]
        due = day + timedelta(days=rng.randrange(-60, 60), hours=rng.randrange(8, 18))
        values = {
            "title": f"{rng.choice(TASK_TITLES)} — {customer['companyName']}",
            "assigned": customer["salesRep"], "company": _ref("customer", customer_id),
            "status": status, "priority": rng.choices(["_medium", "_high", "_low"], weights=[65, 25, 10])[0],
            "startDate": iso(due - timedelta(days=rng.randrange(1, 10))), "dueDate": iso(due),
            "message": f"Reminder for {customer['companyName']}: {rng.choice(TASK_TITLES).lower()}."}
        if status == "_completed":
            values["completedDate"] = iso(due - timedelta(hours=rng.randrange(1, 48)))
        tasks.append((f"TASK-{i + 1:05d}", values))
    data.append(("task", tasks))
    return data


def load_demo(store: ErpStore, now: datetime) -> dict[str, int]:
    """Write the demo data set into ``store``; return the counts per record type.

    Raises:
        RuntimeError: when a demo record is refused (a bug in the data set).
    """
    now_ms = int(now.timestamp() * 1000)
    day = now.replace(hour=9, minute=0, second=0, microsecond=0)
    for record_type, rows in demo_rows(day):
        for outcome in store.write(_records(record_type, rows), mode="upsert", now_ms=now_ms):
            if outcome is not None and outcome.errors:
                raise RuntimeError(f"demo {record_type} {outcome.ref} refused: {outcome.errors}")
    return store.counts()


class DemoReset:
    """Resets an account to the demo data: the first reset seeds it through the normal write path and keeps a copy
    of the records; the next ones store that copy again, with the seed's moment replaced by their own: the same
    records a seed at that moment writes, in a fraction of the time.

    The seed writes every record at one moment (its ``dateCreated``, ``lastModifiedDate`` and stock changes) and
    counts its dates from that moment's day, always on whole hours. So the copy serves its day only, and a seed at a
    whole hour keeps no copy (its moment could not be told from the dates).
    """

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] | None = None
        self._seeded_ms = 0
        self._day: date | None = None
        #: How many resets put the copy back (the others seeded).
        self.restored = 0

    def reset(self, store: ErpStore, now: datetime) -> dict[str, int]:
        """Reset ``store`` to the demo data as seeded at ``now``; return the counts per record type."""
        now_ms = int(now.timestamp() * 1000)
        if self._rows is not None and self._day == now.date():
            store.restore_records([_moved(row, self._seeded_ms, now_ms) for row in self._rows])
            self.restored += 1
            return store.counts()
        store.wipe()
        counts = load_demo(store, now)
        if now_ms % HOUR_MS:
            self._rows, self._seeded_ms, self._day = store.copy_records(), now_ms, now.date()
        return counts


def _moved(row: tuple[Any, ...], seeded_ms: int, now_ms: int) -> tuple[Any, ...]:
    """A stored record row (``store.RECORD_COLUMNS``) with the moment ``seeded_ms`` replaced by ``now_ms``."""
    internal_id, record_type, external_id, name, created, modified, fields, xml = row
    was, now = iso_ms(seeded_ms), iso_ms(now_ms)
    fields = fields.replace(f":{seeded_ms},", f":{now_ms},").replace(f":{seeded_ms}}}", f":{now_ms}}}")
    return (internal_id, record_type, external_id, name, now_ms if created == seeded_ms else created,
            now_ms if modified == seeded_ms else modified, fields, xml.replace(f">{was}<", f">{now}<"))
