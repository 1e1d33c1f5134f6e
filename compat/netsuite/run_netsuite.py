"""Drive the PyPI ``netsuite`` package's SOAP client (jacobsvante/netsuite) against the ERP emulator.

Runs in the client's own venv (``.compat/netsuite``); only its WSDL URL template is pointed at the emulator.
Reads the emulator's ready info (JSON) on stdin, runs getList, get, search, upsertList, upsert and getAll,
and prints one JSON object with what the client returned (or, per call, the error it raised).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from netsuite import Config, NetSuite, TokenAuth
from netsuite.soap_api.client import NetSuiteSoapApi

#: Where each call's answer sits in the SOAP response: the paths the client's own ``@WebServiceCall`` declares.
#: Its decorator (netsuite/soap_api/decorators.py, line 37: ``if not isinstance(response, zeep.xsd.ComplexType):
#: return response``) receives the coroutine of these async methods and returns it untouched, so the awaited
#: result is the whole response envelope; the script follows the declared path itself and checks each status.
PATHS = {"getList": "readResponseList.readResponse", "get": "readResponse", "search": "searchResult",
         "upsertList": "writeResponseList.writeResponse", "upsert": "writeResponse", "getAll": "getAllResult"}


def _unwrap(name: str, response: Any) -> Any:
    body = response.body
    for part in PATHS[name].split("."):
        body = getattr(body, part)
    items = body if isinstance(body, list) else [body]
    for item in items:
        if not item["status"]["isSuccess"]:
            raise RuntimeError(f"{name} failed: {item['status']['statusDetail']}")
    if name == "getList":
        return [r["record"] for r in body]
    if name == "get":
        return body["record"]
    if name in ("search", "getAll"):
        return body["recordList"]["record"]
    if name == "upsertList":
        return [r["baseRef"] for r in body]
    return body["baseRef"]


def _ref(value: Any) -> dict[str, Any]:
    return {"internalId": value["internalId"], "externalId": value["externalId"]}


def _customer(record: Any) -> dict[str, Any]:
    return {"internalId": record["internalId"], "externalId": record["externalId"],
            "companyName": record["companyName"]}


async def _calls(api: NetSuiteSoapApi, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    steps = {
        "getList": lambda: api.getList("customer", internalIds=params["internal_ids"]),
        "get": lambda: api.get("customer", internalId=params["internal_ids"][0]),
        "search": lambda: api.search(api.Common.CustomerSearchBasic(
            companyName=api.Core.SearchStringField(searchValue=params["company_prefix"], operator="startsWith"))),
        "upsertList": lambda: api.upsertList([
            api.Relationships.Customer(externalId=f"{params['tag']}-{n}", companyName=f"{params['tag']} Co {n}")
            for n in (1, 2)]),
        "upsert": lambda: api.upsert(api.Relationships.Customer(externalId=f"{params['tag']}-3",
                                                                companyName=f"{params['tag']} Co 3")),
        "getAll": lambda: api.getAll("currency"),
    }
    for name, step in steps.items():
        try:
            result = _unwrap(name, await step())
        except Exception as error:
            out[name] = {"error": f"{type(error).__name__}: {error}"}
            continue
        if name in ("getList", "search"):
            out[name] = [_customer(r) for r in result]
        elif name == "get":
            out[name] = _customer(result)
        elif name == "upsertList":
            out[name] = [_ref(r) for r in result]
        elif name == "upsert":
            out[name] = _ref(result)
        else:
            out[name] = [{"internalId": r["internalId"], "name": r["name"]} for r in result]
    return out


def main() -> None:
    """Read the emulator info and call parameters from stdin, print the results as JSON."""
    request = json.load(sys.stdin)
    info = request["emulator"]
    NetSuiteSoapApi.wsdl_url_tmpl = info["base_url"] + "/wsdl/v{underscored_version}/netsuite.wsdl"
    config = Config(account=info["account"], auth=TokenAuth(
        consumer_key=info["consumer_key"], consumer_secret=info["consumer_secret"],
        token_id=info["token_id"], token_secret=info["token_secret"]))
    api = NetSuite(config, soap_api_options={"version": "2023.2.0"}).soap_api
    print(json.dumps(asyncio.run(_calls(api, request["params"]))))


if __name__ == "__main__":
    main()
