"""Sessionisation, as plain code over plain values: when an event happened, which session
it belongs to, a session's entrance and exit page views and its conversion, and which page
view a web vital or an engagement report belongs to; and which of a request's events are
new, in what order.

Nothing here reads a clock or a database: ``funnel.capture.beacons`` reads the visitor's
latest stored session, feeds a batch's new events (:func:`in_time_order`, :func:`unseen`)
to :class:`VisitorSessions`, and writes what it decided; ``funnel.capture.leads`` asks
:func:`continues` whether a capture converts the latest session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from operator import itemgetter
from typing import Any
from uuid import UUID, uuid4

from funnel.capture.classify import Attribution

# A session ends after this long without activity; an event at exactly this gap still
# continues it.
SESSION_TIMEOUT = timedelta(minutes=30)
# A client clock further ahead than this, or a beacon older than this, is not believed:
# such an event is dated when it was received.
MAX_CLIENT_AHEAD = timedelta(minutes=5)
MAX_CLIENT_DELAY = timedelta(hours=24)
# Engagement grows while the page is open, so the largest report wins; a vital's latest
# report is its final value.
CUMULATIVE_MEASURES = frozenset({"engaged_time_ms", "scroll_depth_percent"})


def event_time(client_time: datetime | None, received_at: datetime) -> datetime:
    """An event's time: the client's, unless it is missing or implausible (more than
    :data:`MAX_CLIENT_AHEAD` after ``received_at`` or :data:`MAX_CLIENT_DELAY` before it),
    when it is ``received_at``."""
    if (
        client_time is None
        or not received_at - MAX_CLIENT_DELAY <= client_time <= received_at + MAX_CLIENT_AHEAD
    ):
        return received_at
    return client_time


def in_time_order[T](timed: Iterable[tuple[datetime, T]]) -> list[tuple[datetime, T]]:
    """``(time, event)`` pairs sorted by time; events of one time keep their order in the
    request."""
    return sorted(timed, key=itemgetter(0))


def unseen[T](
    ordered: Iterable[tuple[datetime, T]], client_id: Callable[[T], str], known: Iterable[str]
) -> list[tuple[datetime, T]]:
    """The events whose client id is neither ``known`` (stored) nor repeated earlier in
    ``ordered`` (a retry within the request): each id once, at its earliest time."""
    seen = set(known)
    fresh: list[tuple[datetime, T]] = []
    for at, event in ordered:
        event_id = client_id(event)
        if event_id not in seen:
            seen.add(event_id)
            fresh.append((at, event))
    return fresh


def first_seen(earliest: datetime, received_at: datetime, *, cookieless: bool) -> datetime:
    """When a batch whose earliest event is ``earliest`` says its visitor was first seen.

    A cookieless visitor's key is made with the salt of the day the request arrives: the
    visitor did not exist before that day, even if an event did (a beacon sent just
    before midnight), so it is never counted as returning.
    """
    if cookieless:
        return max(earliest, datetime.combine(received_at.date(), time(), UTC))
    return earliest


def continues(last_seen_at: datetime, at: datetime) -> bool:
    """Whether activity at ``at`` belongs to a session last active at ``last_seen_at``:
    within :data:`SESSION_TIMEOUT` after it, or before it (sessions only move forward, so
    a late event joins the latest session)."""
    return at - last_seen_at <= SESSION_TIMEOUT


def merge_measure(column: str, old: Any, new: Any) -> Any:
    """A page view's measure after a new report of it (None: not reported)."""
    if new is None:
        return old
    if column in CUMULATIVE_MEASURES and old is not None:
        return max(old, new)
    return new


@dataclass(slots=True)
class Session:
    """A session as a batch leaves it: a stored one (``is_new`` false) with what the batch
    added, or a new one."""

    id: UUID
    started_at: datetime
    last_seen_at: datetime
    # Page views stored before the batch.
    page_views: int
    is_new: bool
    attribution: Attribution
    landing_path: str | None = None
    exit_path: str | None = None
    ended_at: datetime | None = None
    converted: bool = False
    # An event of the batch joined it.
    touched: bool = False
    added_page_views: int = 0
    logs: list[PageView] = field(default_factory=list)


@dataclass(slots=True)
class PageView:
    """A page view of the batch: its traffic-log row, completed before it is written."""

    client_id: str
    session: Session
    occurred_at: datetime
    path: str
    is_entrance: bool
    measures: dict[str, Any] = field(default_factory=dict)
    is_exit: bool = False
    is_conversion: bool = False


class VisitorSessions:
    """One visitor's sessions as a batch of new events changes them.

    Feed the events in time order (:meth:`session_at`, then :meth:`page_view`,
    :meth:`measure` or :meth:`convert`), then :meth:`finish`.
    """

    def __init__(self, latest: Session | None, *, new_id: Callable[[], UUID] = uuid4) -> None:
        """``latest`` is the visitor's latest stored session, if any."""
        self._new_id = new_id
        self.sessions: list[Session] = [] if latest is None else [latest]
        self.current = latest
        # The stored session the batch continues or ends (at most one: sessions only move
        # forward).
        self.stored = latest
        self._page_views: dict[str, PageView] = {}

    def session_at(self, at: datetime, attribution: Callable[[], Attribution], landing_path: str) -> Session:
        """The session of an event at ``at``: the current one when it :func:`continues`
        it, else a new one (the current one then ends at its last activity), attributed
        by ``attribution()`` and landing on ``landing_path``."""
        current = self.current
        if current is not None and continues(current.last_seen_at, at):
            if at > current.last_seen_at:
                current.last_seen_at = at
            current.touched = True
            return current
        if current is not None:
            current.ended_at = current.last_seen_at
        session = Session(
            self._new_id(), at, at, 0, is_new=True, attribution=attribution(), landing_path=landing_path
        )
        self.sessions.append(session)
        self.current = session
        return session

    def page_view(self, session: Session, client_id: str, at: datetime, path: str) -> PageView:
        """Add a page view to ``session``: its entrance when the session had none, its
        exit page for now."""
        page_view = PageView(
            client_id, session, at, path, is_entrance=session.page_views + session.added_page_views == 0
        )
        session.added_page_views += 1
        session.exit_path = path
        session.logs.append(page_view)
        self._page_views[client_id] = page_view
        return page_view

    def measure(
        self, session: Session, page_view_id: str | None, path: str, measures: Mapping[str, Any]
    ) -> bool:
        """Fold a report of measures into its page view of the batch: the one named
        ``page_view_id``, or without a name the session's latest page view of ``path``.
        Returns False when that page view is not in the batch (stored by an earlier
        request: the caller folds it into the stored one)."""
        target = self._page_views.get(page_view_id) if page_view_id else None
        if target is None and page_view_id is None:
            target = next((log for log in reversed(session.logs) if log.path == path), None)
        if target is None:
            return False
        for column, value in measures.items():
            target.measures[column] = merge_measure(column, target.measures.get(column), value)
        return True

    @staticmethod
    def convert(session: Session) -> None:
        """A form was submitted in ``session``."""
        session.converted = True

    def finish(self) -> None:
        """Mark each session's last page view of the batch its exit, and a converted
        session's entrances conversions."""
        for session in self.sessions:
            if session.logs:
                session.logs[-1].is_exit = True
            if session.converted:
                for log in session.logs:
                    if log.is_entrance:
                        log.is_conversion = True

    @property
    def new_sessions(self) -> list[Session]:
        return [session for session in self.sessions if session.is_new]

    @property
    def page_views(self) -> list[PageView]:
        """Every page view of the batch, session by session."""
        return [log for session in self.sessions for log in session.logs]

    @property
    def changed_stored(self) -> Session | None:
        """The stored session, when the batch joined or ended it."""
        session = self.stored
        if session is None or not (session.touched or session.ended_at is not None):
            return None
        return session
