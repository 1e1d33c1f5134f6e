"""The ``demo`` data set: a small HubSpot portal that makes a meaningful sync against the ERP emulator's demo.

- Custom property ``erp_id`` (text, unique values) on companies, contacts, products and tasks, so Tandem can
  upsert by the ERP's id (empty in the demo: nothing has synced yet).
- 60 companies: 40 are ERP demo customers (CUST-0001..0040) under the same name, domain, phone and website (they
  couple by name); 20 exist only in HubSpot. Two more (HubSpot-only) were archived two days ago.
- Contacts: the ERP demo contacts of those 40 customers (same names and e-mails), 2 per HubSpot-only company, and
  4 without a company; each associated with its company (primary). One more was archived a day ago.
- 26 products: 15 ERP inventory items and 5 ERP service items (``hs_sku`` = the ERP item id, same name and USD
  base price), 6 only in HubSpot.
- 60 tasks, each on a company (and its first contact when it has one), due within 30 days either side of today.
- 12 deals on the first customers (amounts, stages), associated with their company.
- The owners are the ERP's and Salesforce's sales team (same e-mails), for ``hubspot_owner_id``.

Everything is deterministic (fixed random seed); dates are relative to the emulator clock's day.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from emulators.erp.seed import demo_rows
from emulators.hubspot.schema import OBJECT_TYPES, PropertySpec
from emulators.hubspot.store import HubSpotStore, Record
from emulators.hubspot.values import iso

SEED = 18_006
MATCHED_COMPANIES = 40
NEW_NAMES = [f"{a} {b}" for a in ("Aurora", "Bramble", "Cobalt", "Driftwood", "Ember") for b in
             ("Studios", "Ventures", "Collective", "Works")]
ERP_ID_PROPERTY = "erp_id"
ERP_ID_OBJECTS = ("companies", "contacts", "products", "tasks")
TASK_SUBJECTS = ["Intro call", "Send proposal", "Follow up on demo", "Check renewal date", "Confirm shipping address",
                 "Share case study", "Book quarterly review", "Ask for referral"]
STATUSES = ["NOT_STARTED", "NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]


@cache
def _erp_demo() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The ERP demo's records by type (the parts used here do not depend on the day)."""
    return dict(demo_rows(datetime(2026, 1, 1, 9)))


def owners() -> list[dict[str, Any]]:
    """The portal's users as ``/crm/v3/owners`` lists them: the ERP demo's sales reps (same e-mails)."""
    rows = _erp_demo()["employee"]
    return [{"id": str(70_000_001 + i), "email": str(v["email"]), "firstName": str(v["firstName"]),
             "lastName": str(v["lastName"]), "userId": 9_000_001 + i, "userIdIncludingInactive": 9_000_001 + i,
             "createdAt": "2024-01-15T09:00:00.000Z", "updatedAt": "2024-01-15T09:00:00.000Z", "archived": False}
            for i, (_, v) in enumerate(rows)]


def _create(store: HubSpotStore, type_name: str, rows: list[dict[str, Any]]) -> list[Record]:
    object_type = OBJECT_TYPES[type_name]
    return store.create_many(object_type, [store.check_values(object_type, r, creating=True) for r in rows])


def _backdate(store: HubSpotStore, records: list[Record], rng: random.Random, day: datetime) -> None:
    dates = []
    for record in records:
        created = day - timedelta(days=rng.randrange(30, 400), minutes=rng.randrange(0, 600))
        dates.append((record, created, min(day - timedelta(hours=1), created + timedelta(days=rng.randrange(0, 30)))))
    store.set_dates(dates)


def load_demo(store: HubSpotStore, now: datetime) -> dict[str, int]:
    """Write the demo data set into ``store`` (one transaction); return the live counts per object type."""
    with store.transaction():
        _load(store, now)
    return store.counts()


def _load(store: HubSpotStore, now: datetime) -> None:
    rng = random.Random(SEED)
    day = now.replace(hour=9, minute=0, second=0, microsecond=0)
    erp = _erp_demo()
    for name in ERP_ID_OBJECTS:
        store.add_property(OBJECT_TYPES[name], PropertySpec(
            ERP_ID_PROPERTY, "ERP ID", "string", "text", group_name="tandem",
            description="The record's id in the ERP, written by Tandem.", has_unique_value=True,
            hubspot_defined=False, created_at=iso(day - timedelta(days=400))))
    team = owners()
    customers = erp["customer"][:MATCHED_COMPANIES]
    company_rows = [{"name": c["companyName"], "domain": str(c["url"]).removeprefix("https://www."),
                     "website": c["url"], "phone": c["phone"], "address": c["defaultAddress"],
                     "lifecyclestage": "customer", "hubspot_owner_id": rng.choice(team)["id"]} for _, c in customers]
    for name in NEW_NAMES:
        domain = name.lower().replace(" ", "") + ".example"
        company_rows.append({"name": f"{name} Ltd.", "domain": domain, "website": f"https://www.{domain}",
                             "phone": f"+44 20 7946 {rng.randrange(0, 10_000):04d}", "lifecyclestage": "lead",
                             "industry": rng.choice(["COMPUTER_SOFTWARE", "RETAIL", "MARKETING_AND_ADVERTISING"]),
                             "hubspot_owner_id": rng.choice(team)["id"]})
    companies = _create(store, "companies", company_rows)
    by_customer = {cid: companies[i] for i, (cid, _) in enumerate(customers)}
    contact_rows, contact_company = [], []
    for _, person in erp["contact"]:
        employer = by_customer.get(person["company"]["externalId"])
        if employer is not None:
            contact_rows.append({"firstname": person["firstName"], "lastname": person["lastName"],
                                 "email": person["email"], "phone": person["phone"], "jobtitle": person["title"],
                                 "company": employer.properties["name"], "lifecyclestage": "customer"})
            contact_company.append(employer)
    for index, company in enumerate(companies[MATCHED_COMPANIES:]):
        for j, (first, last) in enumerate((("Maya", "Lindqvist"), ("Jonah", "Okoye"))):
            domain = company.properties["domain"]
            contact_rows.append({"firstname": first, "lastname": f"{last}-{index + 1}" if j else last,
                                 "email": f"{first.lower()}.{last.lower()}{index + 1}@{domain}",
                                 "jobtitle": rng.choice(["Founder", "Head of Ops", "Buyer"]),
                                 "company": company.properties["name"], "lifecyclestage": "lead"})
            contact_company.append(company)
    for first, last in (("Iris", "Vantongeren"), ("Caleb", "Brandt"), ("Yuki", "Sato"), ("Lena", "Marsh")):
        contact_rows.append({"firstname": first, "lastname": last, "email": f"{first.lower()}@inbox.example",
                             "lifecyclestage": "subscriber"})
    contacts = _create(store, "contacts", contact_rows)
    contacts_of: dict[str, list[Record]] = {}
    companies_type, contacts_type = OBJECT_TYPES["companies"], OBJECT_TYPES["contacts"]
    for contact, company in zip(contacts, contact_company, strict=False):
        store.associate(contacts_type, contact.id, companies_type, company.id, [279, 1])
        contacts_of.setdefault(company.id, []).append(contact)
    items = erp["inventoryItem"][:15] + erp["serviceSaleItem"][:5]
    product_rows = [{"name": v["displayName"], "description": v["salesDescription"], "hs_sku": v["itemId"],
                     "price": v["pricingMatrix"]["pricing"][0]["prices"][0]["value"],
                     "hs_cost_of_goods_sold": v.get("cost"),
                     "hs_product_type": "inventory" if str(v["itemId"]).startswith("SKU") else "service"}
                    for _, v in items]
    for i, name in enumerate(("Starter Kit", "Loyalty Card Pack", "Webinar Seat", "Gift Voucher",
                              "Express Delivery", "Setup Fee")):
        product_rows.append({"name": name, "description": f"{name} (sold through HubSpot only)",
                             "hs_sku": f"HS-{500 + i}", "price": round(rng.uniform(10, 300), 2),
                             "hs_product_type": "non_inventory"})
    products = _create(store, "products", product_rows)
    task_rows, task_links = [], []
    for _ in range(60):
        company = rng.choice(companies)
        due = day + timedelta(days=rng.randrange(-30, 31), hours=rng.randrange(0, 8))
        task_rows.append({"hs_task_subject": f"{rng.choice(TASK_SUBJECTS)} — {company.properties['name']}",
                          "hs_task_body": "Created in HubSpot for the Tandem demo.", "hs_timestamp": iso(due),
                          "hs_task_status": rng.choice(STATUSES), "hs_task_type": rng.choice(["TODO", "CALL", "EMAIL"]),
                          "hs_task_priority": rng.choice(["LOW", "MEDIUM", "HIGH", "NONE"]),
                          "hubspot_owner_id": company.properties.get("hubspot_owner_id", team[0]["id"])})
        task_links.append(company)
    tasks = _create(store, "tasks", task_rows)
    tasks_type = OBJECT_TYPES["tasks"]
    for task, company in zip(tasks, task_links, strict=True):
        store.associate(tasks_type, task.id, companies_type, company.id)
        people = contacts_of.get(company.id)
        if people:
            store.associate(tasks_type, task.id, contacts_type, people[0].id)
    deal_rows = [{"dealname": f"{company.properties['name']} — {rng.choice(['Renewal', 'Expansion', 'New order'])}",
                  "amount": rng.randrange(20, 400) * 100, "pipeline": "default",
                  "dealstage": rng.choice(["qualifiedtobuy", "presentationscheduled", "contractsent", "closedwon"]),
                  "closedate": iso(day + timedelta(days=rng.randrange(-20, 60))), "deal_currency_code": "USD"}
                 for company in companies[:12]]
    deals = _create(store, "deals", deal_rows)
    for deal, company in zip(deals, companies[:12], strict=True):
        store.associate(OBJECT_TYPES["deals"], deal.id, companies_type, company.id, [5])
    for group in (companies, contacts, products, tasks, deals):
        _backdate(store, group, rng, day)
    gone = _create(store, "companies", [{"name": "Obsolete Holdings Ltd.", "domain": "obsolete.example"},
                                        {"name": "Duplicate Bramble Studios", "domain": "bramblestudios.example"}])
    gone_contact = _create(store, "contacts", [{"firstname": "Old", "lastname": "Lead",
                                                "email": "old.lead@gone.example"}])
    _backdate(store, gone + gone_contact, rng, day)
    store.archive_many(companies_type, gone, at=now - timedelta(days=2))
    store.archive_many(contacts_type, gone_contact, at=now - timedelta(days=1))
