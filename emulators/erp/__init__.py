"""A local emulator of a NetSuite-SuiteTalk-style SOAP ERP (hand-written WSDL, lxml, SQLite)."""
