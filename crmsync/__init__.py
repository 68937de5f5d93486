"""crmsync: the domain package (models, store, settings, mappings, sync, connectors, CLI, web page)."""
