"""Storage: the tables (schema), engines, column types and migrations."""

__all__: list[str] = []
