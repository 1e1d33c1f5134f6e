"""The ``demo`` data set: a deterministic, believable org (fixed random seed, same ids every time)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from emulators.salesforce.store import OrgCopy, RecordStore

SEED = 20240101
ACCOUNTS = 300
TASKS = 1000
PRODUCTS = 60
OPPORTUNITIES = 150
ORDERS = 60

FIRST_NAMES = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Sophia", "Mateo", "Isabella", "Elijah", "Mia",
               "Amelia", "Oliver", "Harper", "James", "Evelyn", "Benjamin", "Aria", "Henry", "Chloe", "Samuel",
               "Grace", "Daniel", "Nora", "Wei", "Priya", "Hiroshi", "Fatima", "Jonas", "Ingrid", "Santiago", "Lea"]
LAST_NAMES = ["Johnson", "Garcia", "Müller", "Smith", "Nguyen", "Rossi", "Kowalski", "Brown", "Tanaka", "Silva",
              "Martin", "Andersson", "O'Brien", "Dubois", "Patel", "Schmidt", "Hernández", "Larsen", "Kim", "Novak",
              "Wilson", "Moreau", "Becker", "Fischer", "Chen", "Lopez", "Murphy", "Ivanova", "Jensen", "Clarke"]
NAME_PARTS = ["Acme", "Northwind", "Blue Ridge", "Summit", "Harbor", "Pioneer", "Evergreen", "Granite", "Silverline",
              "Redwood", "Atlas", "Beacon", "Cobalt", "Crescent", "Delta", "Falcon", "Horizon", "Ironclad", "Juniper",
              "Keystone", "Lakeside", "Meridian", "Nova", "Orchard", "Prairie", "Quartz", "Riverbend", "Sterling",
              "Tidewater", "Vantage", "Westfield", "Zephyr"]
NAME_KINDS = ["Manufacturing", "Logistics", "Foods", "Engineering", "Health", "Energy", "Systems", "Retail",
              "Textiles", "Construction", "Software", "Packaging", "Chemicals", "Motors", "Analytics"]
SUFFIXES = ["Inc.", "LLC", "Ltd", "GmbH", "Corp.", "Group", "S.A.", "B.V.", "AG", "Co."]
CITIES = [("Chicago", "IL", "USA"), ("Austin", "TX", "USA"), ("Denver", "CO", "USA"), ("Seattle", "WA", "USA"),
          ("Boston", "MA", "USA"), ("Toronto", "ON", "Canada"), ("London", "", "United Kingdom"),
          ("Munich", "Bavaria", "Germany"), ("Lyon", "", "France"), ("Madrid", "", "Spain"), ("Sydney", "NSW",
          "Australia"), ("Osaka", "", "Japan"), ("Rotterdam", "", "Netherlands"), ("Milan", "", "Italy")]
COUNTRY_CURRENCY = {"USA": "USD", "Canada": "CAD", "United Kingdom": "GBP", "Germany": "EUR", "France": "EUR",
                    "Spain": "EUR", "Australia": "AUD", "Japan": "JPY", "Netherlands": "EUR", "Italy": "EUR"}
INDUSTRIES = ["Manufacturing", "Retail", "Technology", "Healthcare", "Energy", "Construction", "Transportation",
              "Finance", "Consulting", "Chemicals", "Electronics", "Hospitality"]
TASK_SUBJECTS = ["Call", "Send quote", "Follow up on invoice", "Schedule demo", "Review contract", "Email pricing",
                 "Confirm delivery date", "Check payment status", "Prepare renewal", "Site visit"]
PRODUCT_FAMILIES = {"Hardware": ["Pump", "Valve", "Sensor", "Controller", "Motor", "Bearing kit"],
                    "Software": ["Fleet license", "Analytics seat", "Monitoring add-on"],
                    "Services": ["Installation", "Maintenance plan", "Training day"],
                    "Consumables": ["Filter pack", "Lubricant 5L", "Gasket set"],
                    "Spare Parts": ["Seal kit", "Impeller", "Drive belt"]}
ACCOUNT_TYPES = ["Customer - Direct", "Customer - Direct", "Customer - Channel", "Prospect",
                 "Channel Partner / Reseller"]
STREETS = ["Main St", "Oak Ave", "Industrial Pkwy", "Harbor Rd"]
CURRENCIES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.36, "AUD": 1.52, "JPY": 149.5}


def _require_ids(results: list[Any], what: str) -> list[str]:
    failed = [r.errors for r in results if not r.success]
    if failed:
        raise RuntimeError(f"the demo seed could not create {what}: {failed[0]}")
    return [r.id for r in results]


def load_demo(store: RecordStore) -> dict[str, int]:
    """Load the demo org into ``store`` through the normal write path; return counts per object."""
    rng = random.Random(SEED)
    user_id = store.integration_user_id
    today = store.clock.now().date()

    def insert(obj: str, records: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(records), 500):
            ids += _require_ids(store.insert(obj, records[start : start + 500], user_id=user_id), obj)
        return ids

    def day(offset_min: int, offset_max: int) -> str:
        return (today + timedelta(days=rng.randint(offset_min, offset_max))).isoformat()

    insert("CurrencyType", [
        {"IsoCode": code, "ConversionRate": rate, "DecimalPlaces": 0 if code == "JPY" else 2,
         "ERP_Id__c": f"CUR-{code}"} for code, rate in CURRENCIES.items()
    ])
    users = [user_id]
    titles = ["Account Executive", "Sales Manager", "Inside Sales Rep", "Customer Success Manager"]
    user_records = []
    for n in range(12):
        first, last = FIRST_NAMES[n], LAST_NAMES[n]
        login = f"{first.lower()}.{last.lower().replace(chr(39), '')}"
        user_records.append({
            "Username": f"{login}@tandem.example", "FirstName": first, "LastName": last,
            "Alias": (first[0] + last)[:8].lower(), "Email": f"{login}@tandem.example",
            "Title": rng.choice(titles), "Department": "Sales", "Phone": f"+1 312 555 {1000 + n:04d}",
            "ERP_Id__c": f"EMP-{1000 + n}",
        })
    users += insert("User", user_records)
    terms = insert("ERP_Payment_Term__c", [
        {"Name": name, "Days_Due__c": days, "Discount_Percent__c": disc, "Discount_Days__c": ddays,
         "ERP_Id__c": f"TERM-{i + 1}"}
        for i, (name, days, disc, ddays) in enumerate(
            [("Net 15", 15, 0, 0), ("Net 30", 30, 0, 0), ("Net 45", 45, 0, 0), ("Net 60", 60, 0, 0),
             ("2% 10 Net 30", 30, 2, 10)])
    ])
    locations = insert("ERP_Location__c", [
        {"Name": f"{city} {kind}", "Location_Type__c": kind, "City__c": city, "Country__c": country,
         "ERP_Id__c": f"LOC-{i + 1}"}
        for i, (city, kind, country) in enumerate(
            [("Chicago", "Warehouse", "USA"), ("Rotterdam", "Warehouse", "Netherlands"),
             ("Munich", "Plant", "Germany"), ("Toronto", "Store", "Canada")])
    ])
    unit_groups = insert("ERP_Unit_Group__c", [
        {"Name": name, "Base_Unit__c": base, "Description__c": f"Units measured in {base.lower()}",
         "ERP_Id__c": f"UG-{i + 1}"}
        for i, (name, base) in enumerate([("Each", "Each"), ("Weight", "Kilogram"), ("Time", "Hour"),
                                          ("Length", "Meter")])
    ])
    price_groups = insert("ERP_Price_Group__c", [
        {"Name": name, "Discount_Percent__c": disc, "CurrencyIsoCode": cur, "ERP_Id__c": f"PG-{i + 1}"}
        for i, (name, disc, cur) in enumerate([("Retail", 0, "USD"), ("Wholesale", 12.5, "USD"),
                                               ("Distributor EU", 18, "EUR")])
    ])

    account_records: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for n in range(ACCOUNTS):
        while True:
            name = f"{rng.choice(NAME_PARTS)} {rng.choice(NAME_KINDS)} {rng.choice(SUFFIXES)}"
            if name not in used_names:
                used_names.add(name)
                break
        city, state, country = rng.choice(CITIES)
        account_records.append({
            "Name": name, "AccountNumber": f"C{10000 + n}", "Type": rng.choice(ACCOUNT_TYPES),
            "Industry": rng.choice(INDUSTRIES), "Phone": f"+1 {rng.randint(200, 989)} 555 {rng.randint(0, 9999):04d}",
            "Website": f"https://www.{name.split()[0].lower().replace(' ', '')}{n}.example.com",
            "BillingStreet": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
            "BillingCity": city, "BillingState": state or None, "BillingPostalCode": f"{rng.randint(10000, 99999)}",
            "BillingCountry": country, "ShippingCity": city, "ShippingCountry": country,
            "AnnualRevenue": rng.randrange(250_000, 250_000_000, 1000), "NumberOfEmployees": rng.randint(5, 25_000),
            "CurrencyIsoCode": COUNTRY_CURRENCY[country], "OwnerId": rng.choice(users[1:]),
            "ERP_Price_Group__c": rng.choice(price_groups), "ERP_Payment_Term__c": rng.choice(terms),
            "ERP_Id__c": f"CUST-{10000 + n}",
        })
    accounts = insert("Account", account_records)

    contact_records: list[dict[str, Any]] = []
    contact_accounts = []
    for index, account in enumerate(accounts):
        for _ in range(rng.randint(1, 5)):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email_user = f"{first}.{last}".lower().replace("'", "").replace("ü", "ue").replace("á", "a")
            contact_records.append({
                "FirstName": first, "LastName": last, "Salutation": rng.choice(["Mr.", "Ms.", "Dr.", None]),
                "Title": rng.choice(["Purchasing Manager", "CFO", "Operations Director", "Buyer", "Plant Manager"]),
                "Email": f"{email_user}{len(contact_records)}@{account_records[index]['Website'][12:]}",
                "Phone": f"+1 {rng.randint(200, 989)} 555 {rng.randint(0, 9999):04d}", "AccountId": account,
                "MailingCity": account_records[index]["BillingCity"],
                "MailingCountry": account_records[index]["BillingCountry"],
                "ERP_Id__c": f"CONT-{20000 + len(contact_records)}",
            })
            contact_accounts.append(account)
    contacts = insert("Contact", contact_records)

    products = []
    product_records = []
    for n in range(PRODUCTS):
        family = rng.choice(list(PRODUCT_FAMILIES))
        base = rng.choice(PRODUCT_FAMILIES[family])
        product_records.append({
            "Name": f"{base} {chr(65 + n % 26)}{100 + n}", "ProductCode": f"SKU-{5000 + n}", "Family": family,
            "Description": f"{base} for industrial use, model {100 + n}",
            "QuantityUnitOfMeasure": "Hour" if family == "Services" else "Each",
            "ERP_Unit_Group__c": unit_groups[2] if family == "Services" else unit_groups[0],
            "ERP_Id__c": f"ITEM-{5000 + n}",
        })
    products = insert("Product2", product_records)
    pricebooks = insert("Pricebook2", [
        {"Name": "Standard Price Book", "Description": "The standard list prices", "ERP_Id__c": "PB-STD"},
        {"Name": "Wholesale", "Description": "Wholesale prices", "ERP_Price_Group__c": price_groups[1],
         "ERP_Id__c": "PB-WHOLESALE"},
        {"Name": "Distributor EU", "Description": "EU distributor prices", "ERP_Price_Group__c": price_groups[2],
         "ERP_Id__c": "PB-DIST-EU"},
    ])
    entries = []
    for p_index, product in enumerate(products):
        list_price = round(rng.uniform(15, 4500), 2)
        for b_index, (pricebook, factor) in enumerate(zip(pricebooks, [1.0, 0.875, 0.82], strict=True)):
            entries.append({"Pricebook2Id": pricebook, "Product2Id": product,
                            "UnitPrice": round(list_price * factor, 2), "CurrencyIsoCode": "EUR" if b_index == 2
                            else "USD", "ERP_Id__c": f"PRICE-{5000 + p_index}-{b_index}"})
    insert("PricebookEntry", entries)

    stages = ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review",
              "Closed Won", "Closed Lost"]
    insert("Opportunity", [
        {"Name": f"{account_records[i]['Name'].split()[0]} - {rng.choice(['Expansion', 'Renewal', 'New line'])}",
         "AccountId": accounts[i], "StageName": rng.choice(stages), "CloseDate": day(-60, 120),
         "Amount": round(rng.uniform(2_000, 400_000), 2), "Pricebook2Id": pricebooks[0],
         "OwnerId": account_records[i]["OwnerId"], "ERP_Id__c": f"OPP-{30000 + n}"}
        for n, i in enumerate(rng.sample(range(ACCOUNTS), OPPORTUNITIES))
    ])
    insert("Order", [
        {"AccountId": accounts[i], "Status": rng.choice(["Draft", "Activated"]), "EffectiveDate": day(-90, 0),
         "Pricebook2Id": pricebooks[0], "PoNumber": f"PO-{rng.randint(100000, 999999)}",
         "Description": "Replenishment order", "ERP_Id__c": f"SO-{40000 + n}"}
        for n, i in enumerate(rng.sample(range(ACCOUNTS), ORDERS))
    ])
    order_accounts = rng.sample(range(ACCOUNTS), 120)
    sales_orders = insert("ERP_Sales_Order__c", [
        {"Name": f"SO{40000 + n}", "Account__c": accounts[i], "Order_Date__c": day(-120, 0),
         "Requested_Ship_Date__c": day(1, 30), "Total_Amount__c": round(rng.uniform(500, 90_000), 2),
         "Status__c": rng.choice(["Pending Approval", "Pending Fulfillment", "Billed", "Closed"]),
         "ERP_Location__c": rng.choice(locations), "Customer_PO__c": f"PO-{rng.randint(100000, 999999)}",
         "ERP_Id__c": f"ERP-SO-{40000 + n}"}
        for n, i in enumerate(order_accounts)
    ])
    invoice_records = []
    for n, sales_order in enumerate(sales_orders):
        amount = round(rng.uniform(500, 90_000), 2)
        status = rng.choice(["Open", "Paid", "Paid", "Partially Paid", "Overdue"])
        balance = 0.0 if status == "Paid" else round(amount * (0.5 if status == "Partially Paid" else 1.0), 2)
        invoice_date = date.fromisoformat(day(-120, 0))
        invoice_records.append({
            "Name": f"INV{60000 + n}", "Account__c": accounts[order_accounts[n]],
            "ERP_Sales_Order__c": sales_order, "Invoice_Date__c": invoice_date.isoformat(),
            "Due_Date__c": (invoice_date + timedelta(days=30)).isoformat(), "Amount__c": amount,
            "Tax_Amount__c": round(amount * 0.08, 2), "Balance__c": balance, "Status__c": status,
            "ERP_Id__c": f"INV-{60000 + n}",
        })
    insert("ERP_Invoice__c", invoice_records)
    insert("ERP_Contract__c", [
        {"Name": f"CTR{70000 + n}", "Account__c": accounts[i], "Start_Date__c": day(-365, -30),
         "End_Date__c": day(30, 700), "Contract_Value__c": round(rng.uniform(5_000, 500_000), 2),
         "Billing_Frequency__c": rng.choice(["Monthly", "Quarterly", "Annually"]),
         "Status__c": rng.choice(["Active", "Active", "Draft", "Expired"]), "Auto_Renew__c": rng.random() < 0.5,
         "ERP_Payment_Term__c": rng.choice(terms), "ERP_Id__c": f"CTR-{70000 + n}"}
        for n, i in enumerate(rng.sample(range(ACCOUNTS), 80))
    ])

    statuses = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
    priorities = ["High", "Normal", "Low"]
    task_records = []
    for n in range(TASKS):
        contact_index = rng.randrange(len(contacts))
        task_records.append({
            "Subject": rng.choice(TASK_SUBJECTS), "Status": statuses[n % len(statuses)],
            "Priority": priorities[(n // len(statuses)) % len(priorities)], "ActivityDate": day(-30, 45),
            "Description": rng.choice([None, "Discussed next steps.", "Customer asked for a revised quote."]),
            "WhoId": contacts[contact_index], "WhatId": contact_accounts[contact_index],
            "OwnerId": rng.choice(users[1:]), "ERP_Id__c": f"ACT-{80000 + n}",
        })
    insert("Task", task_records)
    return store.counts()


class DemoReset:
    """Resets an org to the demo data: the first reset seeds it through the normal write path and keeps a copy of
    the result; the next ones put that copy back (:meth:`RecordStore.restore`), the same records with their
    timestamps given out again, in a fraction of the time.

    The demo's dates count from the clock's day, so the copy serves its day only; a reset on another day (or after
    a deploy changed the schema) seeds again.
    """

    def __init__(self) -> None:
        self._copy: OrgCopy | None = None
        self._day: date | None = None
        #: How many resets put the copy back (the others seeded).
        self.restored = 0

    def reset(self, store: RecordStore) -> dict[str, int]:
        """Reset ``store`` to the demo org; return the counts per object."""
        day = store.clock.now().date()
        if self._copy is not None and self._day == day and self._copy.schema == store.schema:
            store.restore(self._copy)
            self.restored += 1
            return store.counts()
        store.reset()
        counts = load_demo(store)
        if store.clock.now().date() == day:  # a seed across midnight mixes two days: keep no copy of it
            self._copy, self._day = store.copy_rows(), day
        return counts
