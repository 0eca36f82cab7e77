"""What the marketing site sends: page and form beacons (one event or a batch of up to
100) and lead captures (JSON, or a plain HTML form read as JSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    HttpUrl,
    RootModel,
    StringConstraints,
    Tag,
    model_validator,
)

from funnel.platform.schemas import Identifier, NormalizedEmail, ShortText, Text, Timestamp, storable

MAX_BATCH = 100

PropertyId = Identifier
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,128}$")]
# (The constraints before the Text check, so the document carries the pattern too.)
PagePath = Annotated[
    str, StringConstraints(min_length=1, max_length=4096, pattern=r"^/"), AfterValidator(storable)
]
# events.title is varchar(512).
MAX_TITLE_LENGTH = 512
# (Non-blank and stripped, as common.ShortText.)
UtmValue = Annotated[
    str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True), AfterValidator(storable)
]
EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Milliseconds = Annotated[int, Field(ge=0, le=600_000)]
PropertyValue = (
    Annotated[Text, StringConstraints(max_length=256)]
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)

EventType = Literal["page_view", "form_start", "form_submit", "web_vitals", "engagement", "custom"]
CLICK_ID_NAMES = (
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "li_fat_id",
    "twclid",
    "yclid",
)
ClickIdName = Literal[
    "gclid", "gbraid", "wbraid", "dclid", "msclkid", "fbclid", "ttclid", "li_fat_id", "twclid", "yclid"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Utm(_Strict):
    source: UtmValue | None = None
    medium: UtmValue | None = None
    campaign: UtmValue | None = None
    term: UtmValue | None = None
    content: UtmValue | None = None


class WebVitals(_Strict):
    fcp: Milliseconds | None = None
    lcp: Milliseconds | None = None
    inp: Milliseconds | None = None
    cls: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    ttfb: Milliseconds | None = None


class Engagement(_Strict):
    engagedTimeMs: Annotated[int, Field(ge=0, le=86_400_000)] | None = None
    scrollDepthPercent: Annotated[int, Field(ge=0, le=100)] | None = None


_REQUIRED_BY_TYPE = {
    "custom": "name",
    "web_vitals": "vitals",
    "engagement": "engagement",
    "form_start": "formId",
    "form_submit": "formId",
}
_ONLY_FOR_TYPE = {
    "name": "custom",
    "vitals": "web_vitals",
    "engagement": "engagement",
    "properties": "custom",
}


class BeaconEvent(_Strict):
    """One event from the site's script.

    ``eventId`` is the client's id for the event (a retried beacon carries the same one and
    is stored once); ``visitorId`` the site's anonymous id when it keeps one (otherwise a
    cookieless daily id is derived). ``path`` may include the page's query string, from
    which UTM parameters and click ids are read; only the path itself is stored.
    """

    type: EventType
    eventId: ClientId
    propertyId: PropertyId = "default"
    visitorId: ClientId | None = None
    occurredAt: Timestamp | None = None
    path: PagePath
    title: Annotated[Text, StringConstraints(max_length=MAX_TITLE_LENGTH)] | None = None
    referrer: Annotated[Text, StringConstraints(max_length=2048)] | None = None
    utm: Utm | None = None
    clickIds: Annotated[list[ClickIdName], Field(max_length=len(CLICK_ID_NAMES))] | None = None
    name: EventName | None = None
    formId: Identifier | None = None
    pageViewId: ClientId | None = None
    vitals: WebVitals | None = None
    engagement: Engagement | None = None
    properties: Annotated[dict[EventName, PropertyValue], Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> BeaconEvent:
        required = _REQUIRED_BY_TYPE.get(self.type)
        if required and getattr(self, required) is None:
            raise ValueError(f"{self.type} events need {required}")
        for field, event_type in _ONLY_FOR_TYPE.items():
            if getattr(self, field) is not None and self.type != event_type:
                raise ValueError(f"{field} is only for {event_type} events")
        return self


class EventBatch(_Strict):
    events: Annotated[list[BeaconEvent], Field(min_length=1, max_length=MAX_BATCH)]


def _body_kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "single"


class EventsBody(RootModel[Annotated[BeaconEvent, Tag("single")] | Annotated[EventBatch, Tag("batch")]]):
    """The body of ``POST /v1/events``: one event, or ``{"events": [...]}``."""

    root: Annotated[BeaconEvent, Tag("single")] | Annotated[EventBatch, Tag("batch")] = Field(
        discriminator=Discriminator(_body_kind)
    )

    def events(self) -> list[BeaconEvent]:
        return self.root.events if isinstance(self.root, EventBatch) else [self.root]

    def __repr__(self) -> str:
        # Powertools formats route arguments into a debug message on every request, log
        # level or not: a full repr of 100 events costs more than validating them.
        return f"EventsBody(events={len(self.events())})"


class EventsAccepted(BaseModel):
    ok: Literal[True] = True
    accepted: int = Field(description="events stored")
    duplicates: int = Field(description="events already stored under the same eventId")
    ignored: int = Field(description="events from bots and crawlers, counted but not stored")
    queued: Literal[True] | None = Field(
        default=None,
        description="present (true) only when the database could not be reached in time: the request "
        "is buffered and its events are written (each once, by eventId) when the database is back; "
        "the counts are then 0",
    )


FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class LeadCapture(_Strict):
    """A lead-capture form.

    Consent is express opt-in only: ``consent`` must be sent true (a ticked checkbox),
    and then ``consentWordingVersion`` names the wording the person agreed to. An address
    that withdrew its consent (unsubscribed) is granted it again only with ``reconsent``
    true as well: a box the person ticks to be subscribed again, whose wording the version
    names. A plain HTML form posts the same fields urlencoded; its extra inputs go in
    ``fields[name]``, and ``redirect`` (an allowed origin's URL) is where the browser is
    sent afterwards.
    """

    email: NormalizedEmail
    propertyId: PropertyId = "default"
    visitorId: ClientId | None = None
    formId: Identifier = "lead_capture"
    path: PagePath | None = None
    consent: bool = False
    consentWordingVersion: ShortText | None = None
    reconsent: bool = Field(
        default=False,
        description="The person asks to be subscribed again after unsubscribing (with `consent`); "
        "without it, consent withdrawn earlier stays withdrawn",
    )
    fields: Annotated[
        dict[FieldName, Annotated[Text, StringConstraints(max_length=2000)]], Field(max_length=30)
    ] = Field(default_factory=dict)
    redirect: Annotated[HttpUrl, Field(max_length=2048)] | None = None

    def __repr__(self) -> str:
        # Never the email: Powertools writes route arguments into debug messages.
        return f"LeadCapture(formId={self.formId!r}, propertyId={self.propertyId!r}, consent={self.consent})"

    __str__ = __repr__

    @model_validator(mode="after")
    def _a_grant_names_its_wording(self) -> LeadCapture:
        if self.consent and self.consentWordingVersion is None:
            raise ValueError("consentWordingVersion is required when consent is given")
        if self.reconsent and not self.consent:
            raise ValueError("reconsent is a grant: it needs consent")
        return self


class LeadCaptured(BaseModel):
    ok: Literal[True] = True
