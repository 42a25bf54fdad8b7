"""What the report routes show: each issued version with its files and deliveries, and the warnings."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

__all__ = ["FileName", "Month", "ReportDelivery", "ReportVersion", "ReportWarning", "SubjectReports"]

# A month of the reports: from 2000, as YYYY-MM.
MONTH_PATTERN = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"
Month = Annotated[str, Path(pattern=MONTH_PATTERN, examples=["2026-10"])]
FileName = Annotated[str, Path(pattern=r"^[a-z-]+\.(json|csv|xlsx)$", examples=["meals.xlsx"])]


class ReportDelivery(BaseModel):
    """One receiver's delivery of one version: ``delivered`` once its receipt is kept."""

    receiver: str
    state: str = Field(examples=["delivered", "pending"])
    attempts: int
    delivered_at: dt.datetime | None
    last_error: str | None


class ReportVersion(BaseModel):
    """One issued version of a month's report: what changed since the version before, its files, deliveries."""

    month: str = Field(examples=["2026-10"])
    kind: str = Field(examples=["meals", "attendance", "region", "country"])
    version: int
    created_at: dt.datetime
    changes: Any = Field(description="The figures that changed since the previous version (none for the first).")
    missing_gateways: Any = Field(description="Gateways of the school not heard from when it was issued.")
    files: list[str]
    deliveries: list[ReportDelivery]
    warned_at: dt.datetime | None = Field(description="When the deadline warning was raised, if it was.")


class ReportWarning(BaseModel):
    """A month's report still unacknowledged two working days before its deadline."""

    subject: str
    month: str
    kind: str
    deadline: dt.date
    raised_at: dt.datetime
    receivers: list[str]


class SubjectReports(BaseModel):
    """A region's (or the country's) issued sums, and the warnings of it and of its schools."""

    reports: list[ReportVersion]
    warnings: list[ReportWarning]
