"""What the cloud does, over a SQLAlchemy ``Connection`` whose transaction the caller owns."""

__all__: list[str] = []
