"""Alembic migrations of the BudConnect schema."""
