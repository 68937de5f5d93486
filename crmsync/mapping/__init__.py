"""Declarative field mappings: the YAML schema, its validation, and the named transforms."""
