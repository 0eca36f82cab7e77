"""Capture from the marketing site: beacons, sessions, classification, visitor identity,
ingest accounting, lead capture and consent."""
