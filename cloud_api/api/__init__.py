"""The HTTP layer: dependencies, routes and how refusals become responses."""

__all__: list[str] = []
