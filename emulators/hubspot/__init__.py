"""A local HubSpot CRM API v3 emulator (HTTPS REST): objects, batch, search, properties, associations v4."""
