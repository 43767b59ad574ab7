"""Plain typed records and rules of the registry; no I/O lives here."""
