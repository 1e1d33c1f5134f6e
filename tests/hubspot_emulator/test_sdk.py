"""HubSpot's official Python SDK (hubspot-api-client), unmodified, against the emulator: the proof that the
emulator answers in HubSpot's shapes."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from hubspot import Client
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import PublicObjectSearchRequest as ContactSearch
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput
from hubspot.crm.properties import PropertyCreate

from tests.support.emulator import RunningEmulator


def sdk(emulator: RunningEmulator, token: str | None = None) -> Any:
    """The SDK pointed at the emulator (its host, its CA, the demo token)."""
    return Client.create(access_token=token or emulator.info["access_token"], host=emulator.base_url,
                         ssl_ca_cert=emulator.ca_cert)


def test_basic_api_creates_reads_updates_and_archives(hubspot: RunningEmulator) -> None:
    client = sdk(hubspot)
    created = client.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"name": "Kestrel Analytics", "domain": "kestrel.example", "numberofemployees": 42}))
    assert created.properties["name"] == "Kestrel Analytics"
    assert created.properties["hs_object_id"] == created.id
    assert created.created_at == created.updated_at

    read = client.crm.companies.basic_api.get_by_id(created.id, properties=["name", "numberofemployees", "phone"])
    assert read.properties["numberofemployees"] == "42"
    assert read.properties["phone"] is None

    updated = client.crm.companies.basic_api.update(created.id, simple_public_object_input=SimplePublicObjectInput(
        properties={"phone": "+1 555 0100"}))
    assert updated.properties["phone"] == "+1 555 0100"
    assert updated.updated_at >= created.updated_at

    client.crm.companies.basic_api.archive(created.id)
    with pytest.raises(ApiException) as gone:
        client.crm.companies.basic_api.get_by_id(created.id)
    assert gone.value.status == 404
    archived = client.crm.companies.basic_api.get_by_id(created.id, archived=True)
    assert archived.archived and archived.archived_at is not None


def test_batch_upsert_by_unique_property_then_batch_read(hubspot: RunningEmulator) -> None:
    client = sdk(hubspot)
    first = client.crm.companies.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        SimplePublicObjectBatchInputUpsert(id="CUST-0900", id_property="erp_id",
                                           properties={"name": "Upserted One"}),
        SimplePublicObjectBatchInputUpsert(id="CUST-0901", id_property="erp_id",
                                           properties={"name": "Upserted Two"})]))
    assert first.status == "COMPLETE" and all(r.new for r in first.results)
    again = client.crm.companies.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        SimplePublicObjectBatchInputUpsert(id="CUST-0900", id_property="erp_id",
                                           properties={"name": "Upserted One, renamed"})]))
    assert [r.new for r in again.results] == [False]
    assert again.results[0].id == next(r.id for r in first.results if r.properties["erp_id"] == "CUST-0900")

    read = client.crm.companies.batch_api.read(BatchReadInputSimplePublicObjectId(
        id_property="erp_id", properties=["name", "erp_id"],
        inputs=[SimplePublicObjectId(id="CUST-0900"), SimplePublicObjectId(id="CUST-0901")]))
    assert sorted(r.properties["name"] for r in read.results) == ["Upserted One, renamed", "Upserted Two"]


def test_batch_read_with_a_missing_id_is_multi_status(hubspot: RunningEmulator) -> None:
    client = sdk(hubspot)
    read = client.crm.companies.batch_api.read(BatchReadInputSimplePublicObjectId(
        properties=["name"], inputs=[SimplePublicObjectId(id="1000001"), SimplePublicObjectId(id="999")]))
    assert [r.id for r in read.results] == ["1000001"]
    assert read.num_errors == 1
    assert read.errors[0].category == "OBJECT_NOT_FOUND" and read.errors[0].context == {"ids": ["999"]}


def test_search_pages_with_after(hubspot: RunningEmulator) -> None:
    client = sdk(hubspot)
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]}],
        sorts=[{"propertyName": "name", "direction": "ASCENDING"}], properties=["name"], limit=15)
    names, after, pages = [], None, 0
    while True:
        request.after = after
        page = client.crm.companies.search_api.do_search(public_object_search_request=request)
        names += [r.properties["name"] for r in page.results]
        pages += 1
        if page.paging is None:
            break
        after = page.paging.next.after
    assert page.total == 40 and len(names) == 40 and pages == 3
    assert names == sorted(names, key=str.lower)


def test_associations_v4_and_properties_api(hubspot: RunningEmulator) -> None:
    client = sdk(hubspot)
    contact = client.crm.contacts.basic_api.create(simple_public_object_input_for_create=ContactInput(
        properties={"email": "New.Person@Kestrel.example", "firstname": "New"}))
    assert contact.properties["email"] == "new.person@kestrel.example"
    client.crm.associations.v4.basic_api.create_default("contacts", contact.id, "companies", "1000002")
    page = client.crm.associations.v4.basic_api.get_page("contacts", contact.id, "companies")
    assert [(r.to_object_id, [t.type_id for t in r.association_types]) for r in page.results] == [("1000002", [279])]
    back = client.crm.associations.v4.basic_api.get_page("companies", "1000002", "contacts")
    assert contact.id in {r.to_object_id for r in back.results}
    with pytest.raises(AssociationsApiException) as refused:
        client.crm.associations.v4.basic_api.create_default("contacts", contact.id, "companies", "424242")
    assert refused.value.status == 404

    made = client.crm.properties.core_api.create("contacts", PropertyCreate(
        name="loyalty_tier", label="Loyalty tier", type="enumeration", field_type="select",
        group_name="contactinformation",
        options=[{"label": "Gold", "value": "gold", "displayOrder": 0, "hidden": False}]))
    assert made.name == "loyalty_tier"
    described = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    assert described["erp_id"].has_unique_value and not described["loyalty_tier"].has_unique_value
    with pytest.raises(ContactsApiException) as bad:
        client.crm.contacts.basic_api.create(simple_public_object_input_for_create=ContactInput(
            properties={"loyalty_tier": "platinum"}))
    assert bad.value.status == 400 and "INVALID_OPTION" in bad.value.body


def test_contacts_search_by_last_modified_date(hubspot: RunningEmulator) -> None:
    client = sdk(hubspot)
    hubspot.control("POST", "clock", json={"advance_seconds": 3600})
    mark = hubspot.control("GET", "clock")["now"]
    changed = client.crm.contacts.basic_api.create(simple_public_object_input_for_create=ContactInput(
        properties={"email": "fresh@inbox.example"}))
    found = client.crm.contacts.search_api.do_search(public_object_search_request=ContactSearch(
        filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": mark}]}],
        properties=["email"], limit=100))
    assert [r.id for r in found.results] == [changed.id]


def test_errors_reach_the_sdk_as_hubspot_sends_them(hubspot: RunningEmulator) -> None:
    with pytest.raises(ApiException) as unauthorised:
        sdk(hubspot, token=secrets.token_urlsafe(16)).crm.companies.basic_api.get_page()
    assert unauthorised.value.status == 401 and "INVALID_AUTHENTICATION" in unauthorised.value.body


def test_associations_v4_batches_and_labels(hubspot: RunningEmulator) -> None:
    v4 = sdk(hubspot).crm.associations.v4
    made = v4.batch_api.create_default("tasks", "companies", BatchInputPublicDefaultAssociationMultiPost(inputs=[
        PublicDefaultAssociationMultiPost(_from={"id": "1000214"}, to={"id": "1000010"})]))
    assert {(r._from.id, r.to.id) for r in made.results} >= {("1000214", "1000010")}
    read = v4.batch_api.get_page("tasks", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=[
        PublicFetchAssociationsBatchRequest(id="1000214")]))
    assert "1000010" in {t.to_object_id for t in read.results[0].to}
    labels = v4.basic_api.create("contacts", "1000061", "companies", "1000002", [
        AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)])
    assert labels.labels == ["Primary"]
    contact = sdk(hubspot).crm.contacts.basic_api.get_by_id("1000061", properties=["associatedcompanyid"])
    assert contact.properties["associatedcompanyid"] == "1000002"
    v4.basic_api.archive("contacts", "1000061", "companies", "1000002")
    remaining = v4.basic_api.get_page("contacts", "1000061", "companies")
    assert [r.to_object_id for r in remaining.results] == ["1000001"]
