"""Cross-cutting pieces of the cloud: local time, metrics."""

__all__: list[str] = []
