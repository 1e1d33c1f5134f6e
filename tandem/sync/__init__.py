"""The sync engine: moves one entity's records between the systems, a page at a time."""
