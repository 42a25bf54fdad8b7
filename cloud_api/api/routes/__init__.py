"""One router per area of the API."""

__all__: list[str] = []
