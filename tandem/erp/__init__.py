"""Tandem's ERP adapter: SuiteTalk-style SOAP through zeep (requests) and lxml (responses).

Modules: ``client`` (zeep client, WSDL cache, timeouts), ``passport`` (TokenPassport signing),
``schema`` (WSDL types and typed request values), ``parsing`` (raw-response lxml parsing),
``errors`` (retryable/fatal classification), ``adapter`` (the protocol; retries: :mod:`tandem.retrying`).
"""
