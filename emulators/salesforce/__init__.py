"""A local emulator of Salesforce's REST API (login, sObjects, SOQL, Collections, Bulk API 2.0)."""
