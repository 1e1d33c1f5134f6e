"""Links that open a record in its own system (beside the card that names it)."""

from __future__ import annotations

from urllib.parse import urlparse

from tandem.hubspot.adapter import record_page
from tandem.store.tables import Side

#: Salesforce's standard login hosts, by the short names the credentials block accepts.
STANDARD_HOSTS = {"login": "https://login.salesforce.com", "test": "https://test.salesforce.com"}
#: The ERP's record pages by record type (SuiteTalk / NetSuite style); other types use the generic page.
ERP_PAGES = {
    "customer": "/app/common/entity/custjob.nl?id={id}",
    "contact": "/app/common/entity/contact.nl?id={id}",
    "employee": "/app/common/entity/employee.nl?id={id}",
    "task": "/app/crm/calendar/task.nl?id={id}",
    "salesOrder": "/app/accounting/transactions/salesord.nl?id={id}",
    "invoice": "/app/accounting/transactions/custinvc.nl?id={id}",
    "inventoryItem": "/app/common/item/item.nl?id={id}",
    "serviceSaleItem": "/app/common/item/item.nl?id={id}",
}
ERP_GENERIC_PAGE = "/app/common/record.nl?type={type}&id={id}"


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def record_url(
    side: Side, record_type: str, record_id: str, *, crm_base: str, erp_base: str, crm_system: str = "Salesforce"
) -> str | None:
    """The address of a record's page in its system (``None`` when it cannot be known).

    Args:
        side: the record's system.
        record_type: the CRM object or the ERP record type.
        record_id: the record's id there.
        crm_base: the Salesforce login host (``login``, ``test`` or a URL), or the HubSpot portal id.
        erp_base: any URL of the ERP account (its WSDL's address will do).
        crm_system: ``Salesforce`` or ``HubSpot``.
    """
    if side is Side.CRM and crm_system == "HubSpot":
        return record_page(crm_base, record_type, record_id) if crm_base else None
    if side is Side.CRM:
        base = STANDARD_HOSTS.get(crm_base) or _origin(crm_base)
        return f"{base}/lightning/r/{record_type}/{record_id}/view"
    page = ERP_PAGES.get(record_type, ERP_GENERIC_PAGE)
    return _origin(erp_base) + page.format(id=record_id, type=record_type)
