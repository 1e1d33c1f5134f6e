"""SuiteTalk 2023.2 namespaces and the prefixes the emulator writes them with."""

from __future__ import annotations

VERSION = "2023_2"
WSDL_VERSION = "v2023_2_0"
ENDPOINT_PATH = f"/services/NetSuitePort_{VERSION}"
WSDL_PATH = f"/wsdl/{WSDL_VERSION}/netsuite.wsdl"

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

PREFIXES: dict[str, str] = {
    "soapenv": SOAPENV,
    "xsi": XSI,
    "xsd": XSD,
    "platformMsgs": f"urn:messages_{VERSION}.platform.webservices.netsuite.com",
    "platformCore": f"urn:core_{VERSION}.platform.webservices.netsuite.com",
    "platformCommon": f"urn:common_{VERSION}.platform.webservices.netsuite.com",
    "platformFaults": f"urn:faults_{VERSION}.platform.webservices.netsuite.com",
    "listRel": f"urn:relationships_{VERSION}.lists.webservices.netsuite.com",
    "listEmp": f"urn:employees_{VERSION}.lists.webservices.netsuite.com",
    "listAcct": f"urn:accounting_{VERSION}.lists.webservices.netsuite.com",
    "tranSales": f"urn:sales_{VERSION}.transactions.webservices.netsuite.com",
    "tranCust": f"urn:customers_{VERSION}.transactions.webservices.netsuite.com",
    "actSched": f"urn:scheduling_{VERSION}.activities.webservices.netsuite.com",
    "setupCustom": f"urn:customization_{VERSION}.setup.webservices.netsuite.com",
}
PREFIX_OF: dict[str, str] = {uri: prefix for prefix, uri in PREFIXES.items()}

ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    + " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in PREFIXES.items())
    + ">"
)
ENVELOPE_CLOSE = "</soapenv:Body></soapenv:Envelope>"


def envelope(body: str, header: str = "") -> bytes:
    """Wrap a response body fragment (using the prefixes above) in a SOAP 1.1 envelope, with ``header`` blocks."""
    head = f"<soapenv:Header>{header}</soapenv:Header>" if header else ""
    return (ENVELOPE_OPEN + head + "<soapenv:Body>" + body + ENVELOPE_CLOSE).encode()
