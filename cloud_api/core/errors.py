"""The one error the cloud raises on purpose: a request that cannot be carried out, with a stable code.

Every refusal is a :class:`DomainError`: the services' (``unknown_person``), a roster file's
(:class:`~cloud_api.roster.nedb.RosterFileError`) and the ingest's
(:class:`~cloud_api.services.signatures.Refused`). The code is what a client acts on and what the
catalogs translate; one table in :mod:`cloud_api.api.errors` gives each code its HTTP status, and
one exception handler answers it in the caller's language. Nothing below the routes chooses a status.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DomainError"]


class DomainError(ValueError):
    """A request that cannot be carried out, for a reason its caller can act on.

    ``code`` is stable (``unknown_person``, ``card_already_assigned``) and is a message of the
    catalogs, said in the caller's language with ``values`` in its ``{placeholders}``. ``detail``
    says more in English, for logs and the command line, and is what a caller reads for a code the
    catalogs do not have (the ingest's, whose reader is a gateway's operator). ``errors`` name each
    field at fault as ``(path, message)``.
    """

    def __init__(
        self, code: str, detail: str | None = None, *, errors: Sequence[tuple[str, str]] = (), **values: object
    ) -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.values = values
