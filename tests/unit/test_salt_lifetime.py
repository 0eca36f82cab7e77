"""How long a visitor salt really lives: the purge's cutoff together with the moment the
template's schedule runs it. A salt is deleted 48 hours after its day began, as the
README promises, only if the purge runs at 00:00 UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from funnel.platform.settings import PrivacySettings
from funnel.privacy.retention import SALT_LIFETIME, Horizon, first_kept_days

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
DAILY_CRON = re.compile(r"^cron\((\d+) (\d+) \* \* \? \*\)$")


class IntrinsicsIgnored(yaml.SafeLoader):
    """Reads template.yaml, with CloudFormation's !Ref, !If... as None."""


IntrinsicsIgnored.add_multi_constructor("!", lambda loader, suffix, node: None)


def purge_schedule() -> tuple[int, int]:
    """The hour and minute (UTC) of the template's daily retention purge."""
    template = yaml.load(TEMPLATE.read_text(), Loader=IntrinsicsIgnored)  # noqa: S506
    events = template["Resources"]["RetentionPurgeFunction"]["Properties"]["Events"]
    (schedule,) = [e["Properties"]["Schedule"] for e in events.values() if e["Type"] == "Schedule"]
    match = DAILY_CRON.match(schedule)
    assert match, f"not a daily cron schedule: {schedule}"
    minute, hour = int(match.group(1)), int(match.group(2))
    return hour, minute


def test_a_salt_is_deleted_48_hours_after_its_day_began():
    # Given a salt made at the first moment of its day, and the template's daily purge
    day = date(2026, 6, 13)
    made = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    hour, minute = purge_schedule()
    privacy = PrivacySettings()

    # When the scheduled runs come, one a day
    runs = [made + timedelta(days=n, hours=hour, minutes=minute) for n in range(4)]
    deleted_at = next(run for run in runs if day < first_kept_days(run.date(), privacy)[Horizon.SALT])

    # Then the first run that deletes it comes exactly 48 hours after the salt was made
    assert deleted_at - made == timedelta(hours=48) == SALT_LIFETIME
