"""Connections: unique names and one ERP company per CRM org among active connections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tandem.store import (
    BindingRecord,
    Connection,
    ConnectionExistsError,
    ConnectionNotFoundError,
    ConnectionPairingError,
    Environment,
    Side,
    archive_connection,
    bindings_by_crm_ids,
    create_connection,
    get_connection,
    list_connections,
    require_id,
    update_connection,
    upsert_bindings,
)

ORG = "00D000000000001"


def test_a_connection_is_created_and_read_back(session: Session) -> None:
    enabled_at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    created = create_connection(
        session,
        name="acme-sandbox",
        crm_org_id="00D000000000009",
        erp_account_id="TSTDRV9_SB1",
        environment=Environment.SANDBOX,
        options={"entities": ["customer", "item"], "schedule_minutes": 5},
        sync_enabled_at=enabled_at,
    )
    session.commit()
    session.expunge_all()
    loaded = get_connection(session, "acme-sandbox")
    assert loaded.id == created.id
    assert (loaded.crm_org_id, loaded.erp_account_id, loaded.environment) == (
        "00D000000000009",
        "TSTDRV9_SB1",
        Environment.SANDBOX,
    )
    assert loaded.options == {"entities": ["customer", "item"], "schedule_minutes": 5}
    assert loaded.sync_enabled_at == enabled_at
    assert loaded.enabled and not loaded.archived


def test_a_crm_org_pairs_with_one_erp_account(session: Session, cid: int) -> None:
    with pytest.raises(ConnectionPairingError) as refused:
        create_connection(session, name="other", crm_org_id=ORG, erp_account_id="TSTDRV2")
    message = str(refused.value)
    assert ORG in message and "TSTDRV1" in message and "TSTDRV2" in message and "'acme'" in message
    assert (refused.value.existing_erp_account_id, refused.value.requested_erp_account_id) == ("TSTDRV1", "TSTDRV2")
    with pytest.raises(ConnectionPairingError, match="already paired with ERP account TSTDRV1"):
        create_connection(session, name="again", crm_org_id=ORG, erp_account_id="TSTDRV1")
    # another org may use its own account
    create_connection(session, name="beta", crm_org_id="00D000000000002", erp_account_id="TSTDRV2")
    session.commit()
    assert [c.name for c in list_connections(session)] == ["acme", "beta"]


def test_the_database_backs_the_pairing_rule(session: Session, cid: int) -> None:
    session.add(Connection(name="sneaky", crm_org_id=ORG, erp_account_id="TSTDRV2"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_archiving_frees_the_org_and_archives_bindings(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, "customer", [BindingRecord(crm_id="001a", erp_id="1")], key=Side.CRM)
    assert archive_connection(session, cid) == 1
    successor = create_connection(session, name="acme-2", crm_org_id=ORG, erp_account_id="TSTDRV2")
    session.commit()
    assert bindings_by_crm_ids(session, cid, "customer", ["001a"]) == {}
    assert [c.name for c in list_connections(session)] == ["acme-2"]
    assert {c.name for c in list_connections(session, include_archived=True)} == {"acme", "acme-2"}
    assert successor.id != cid


def test_names_are_unique(session: Session, cid: int) -> None:
    with pytest.raises(ConnectionExistsError):
        create_connection(session, name="acme", crm_org_id="00D000000000003", erp_account_id="TSTDRV3")


def test_options_and_enabling_are_updated(session: Session) -> None:
    created = create_connection(
        session, name="later", crm_org_id="00D000000000004", erp_account_id="TSTDRV4", enabled=False
    )
    assert created.sync_enabled_at is None
    before = datetime.now(UTC)
    updated = update_connection(session, require_id(created), options={"schedule_minutes": 30}, enabled=True)
    session.commit()
    session.expunge_all()
    loaded = get_connection(session, "later")
    assert loaded.options == {"schedule_minutes": 30} and loaded.enabled
    assert loaded.sync_enabled_at is not None and loaded.sync_enabled_at >= before.replace(microsecond=0)
    assert loaded.updated_at == updated.updated_at
    update_connection(session, require_id(created), sync_enabled_at=None, enabled=False)
    session.commit()
    assert get_connection(session, "later").sync_enabled_at is None


def test_unknown_connections_are_reported(session: Session) -> None:
    with pytest.raises(ConnectionNotFoundError):
        get_connection(session, "nope")
    with pytest.raises(ConnectionNotFoundError):
        update_connection(session, 4242, enabled=True)
