"""Tandem's HubSpot adapter (CRM API v3): transport, error classification and the record adapter."""
