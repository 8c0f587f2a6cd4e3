"""All SQL lives in this package. Handlers get protocol structs, never rows."""

from .db import Store, migrate, schema_version

__all__ = ["Store", "migrate", "schema_version"]
