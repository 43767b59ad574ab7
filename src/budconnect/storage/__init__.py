"""Persistence: engine and transactions, tables, migrations, and every SQL statement."""
