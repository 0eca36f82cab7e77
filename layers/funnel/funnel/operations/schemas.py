"""What the operations routes answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HealthReport(BaseModel):
    """``GET /v1/health`` when the database answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: Literal[True] = True
    database: Literal["ok"] = "ok"
    schemaVersion: int | None = Field(description="the latest applied migration; null before the first")
    stage: str
