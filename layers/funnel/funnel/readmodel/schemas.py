"""The rollup function's input: the schedule's ``{"trigger": "schedule"}``, or an
operator's range of UTC days ``{"from", "to", "propertyId"?, "dryRun"?}``.

Both refuse unknown fields and loose types, so a typo (``dry_run``, ``"dryRun": "yes"``)
is an error rather than a different run than the one meant.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    model_validator,
)

from funnel.platform.schemas import Identifier

# A year, leap day included: the longest range one run takes.
MAX_RANGE_DAYS = 366
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _utc_day(value: Any) -> date:
    # Only the exact YYYY-MM-DD text: pydantic's lax dates would also take timestamps
    # and datetimes, which name a day less clearly than an operator should.
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError("a UTC day as YYYY-MM-DD")
    return date.fromisoformat(value)


UtcDay = Annotated[date, BeforeValidator(_utc_day)]


class ScheduledRollup(BaseModel):
    """The schedule's input (``Input`` of the template's ``Hourly`` event): today so far
    and the previous ``ROLLUP_BATCH_DAYS`` days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: Literal["schedule"]


class RollupRange(BaseModel):
    """An operator's run over ``from``..``to`` (inclusive UTC days, at most 366, ``to`` not
    after today), for one property (marketing and ingest tables only) or all, or a dry run
    that computes and reports and writes nothing.

    Validate with ``context={"today": <UTC date>}`` so ``to`` is checked against today.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_: UtcDay = Field(alias="from")
    to: UtcDay
    propertyId: Identifier | None = None
    dryRun: StrictBool = False

    @model_validator(mode="after")
    def _check_range(self, info: ValidationInfo) -> Self:
        if self.from_ > self.to:
            raise ValueError("from must not be after to")
        if (self.to - self.from_).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(f"a run covers at most {MAX_RANGE_DAYS} days")
        today = (info.context or {}).get("today")
        if today is not None and self.to > today:
            raise ValueError(f"to must not be after today ({today.isoformat()}, UTC)")
        return self
