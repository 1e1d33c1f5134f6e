"""REST routes for SOQL queries, the API's resource list and the org's limits."""

from __future__ import annotations

import re

from emulators.salesforce.cursors import batch_size_from_header
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.rest import Call, EmulatorState, Reply, route


def _run(state: EmulatorState, call: Call, *, include_deleted: bool) -> Reply:
    soql = call.query.get("q")
    if not soql:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    batch = batch_size_from_header(call.headers.get("sforce-query-options"))
    return Reply(200, state.cursors.run(soql, include_deleted=include_deleted, batch_size=batch,
                                        api_version=call.version, user_id=call.user_id))


@route("GET", r"/query/?", "query")
def query(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET query?q=SOQL``: the first page."""
    return _run(state, call, include_deleted=False)


@route("GET", r"/queryAll/?", "queryAll")
def query_all(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET queryAll?q=SOQL``: deleted records included."""
    return _run(state, call, include_deleted=True)


@route("GET", r"/(?:query|queryAll)/(?P<locator>01g[0-9A-Za-z]+-\d+)/?", "queryMore")
def query_more(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET query/01g...-2000``: the next page."""
    return Reply(200, state.cursors.more(match["locator"], api_version=call.version))


@route("GET", r"/(?:query|queryAll)/(?P<locator>[^/]+)/?", "queryMore")
def query_more_unknown(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """A locator that is not one: ``INVALID_QUERY_LOCATOR``."""
    raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


@route("GET", r"/?", "resources")
def resources(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET /services/data/vXX.X``: the resources available."""
    base = f"/services/data/v{call.version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return Reply(200, {name: f"{base}/{'jobs/ingest' if name == 'jobs' else name}" for name in names})


#: Bulk API (1.0) batches a day; the emulator does not count them, so all remain.
DAILY_BULK_BATCHES = 15000
#: ``DailyBulkApiRequests`` was renamed ``DailyBulkApiBatches`` in API version 49.0.
BULK_BATCHES_RENAMED = 49.0


def bulk_batches_key(version: str) -> str:
    """The name of the Bulk API batch limit in ``version`` (tap-salesforce reads it before a BULK sync)."""
    return "DailyBulkApiBatches" if float(version) >= BULK_BATCHES_RENAMED else "DailyBulkApiRequests"


@route("GET", r"/limits/?", "limits")
def limits(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET limits``: the daily API allocation and what remains (after this call)."""
    used = state.limit.used()
    maximum = state.limit.maximum
    return Reply(200, {
        "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
        bulk_batches_key(call.version): {"Max": DAILY_BULK_BATCHES, "Remaining": DAILY_BULK_BATCHES},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        "DataStorageMB": {"Max": 5, "Remaining": 5},
        "FileStorageMB": {"Max": 20, "Remaining": 20},
        "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
    })
