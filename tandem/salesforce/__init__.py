"""Tandem's Salesforce side: the HTTP transport for simple-salesforce and the adapter over it."""
