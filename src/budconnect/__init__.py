"""BudConnect: the registry of inference engines, their versions, providers and models."""

__version__ = "0.1.0"
