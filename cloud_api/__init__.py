"""Mektep Gate cloud API: signed ingest of gateway events, read-back, operations (see cloud_api.app)."""

__all__: list[str] = []
