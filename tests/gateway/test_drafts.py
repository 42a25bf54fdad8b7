"""A draft's hand-made body is exactly what the wire contract's Event says, for any draft."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from gateway.taps.drafts import CredentialHasher, Draft
from shared.contract import (
    Category,
    CredentialKind,
    Decision,
    Event,
    EventKind,
    ManualEntry,
    MealInfo,
    credential_hash,
)

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
text = st.text(max_size=64)  # any text, quotes and control characters included
meals = st.builds(
    MealInfo,
    period=st.text(min_size=1, max_size=32),
    category=st.sampled_from(Category),
    dishes=st.lists(st.text(max_size=40), max_size=5),
    price_tiyn=st.integers(min_value=0, max_value=10**9),
)
manuals = st.builds(ManualEntry, staff_id=st.text(min_size=1, max_size=64), reason=st.text(min_size=1, max_size=200))
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda t: t.replace(tzinfo=timezone(timedelta(hours=5)))
)
drafts = st.builds(
    Draft,
    id=st.uuids().map(str),
    school_id=ids,
    gateway_id=ids,
    device_id=ids,
    kind=st.sampled_from(EventKind),
    occurred_at=times.map(datetime.isoformat),
    decision=st.sampled_from(Decision),
    reason=text,
    person_id=st.none() | text,
    credential_kind=st.none() | st.sampled_from(CredentialKind),
    credential_hash=st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    judged_without_roster=st.booleans(),
    meal=st.none() | meals,
    ref=st.none() | text,
    local_person=st.none(),  # kept on the gateway only: not in the body
    local_day=st.none(),
    manual=st.none() | manuals,
    reason_detail=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True), max_size=3).map(tuple),
)


@given(drafts, st.integers(min_value=1, max_value=2**62))
def test_body_is_the_contract_event(draft: Draft, seq: int) -> None:
    event = Event.model_validate_json(draft.body(seq))
    assert event == Event(
        id=uuid.UUID(draft.id),
        seq=seq,
        school_id=draft.school_id,
        gateway_id=draft.gateway_id,
        device_id=draft.device_id,
        kind=draft.kind,
        person_id=draft.person_id,
        credential_kind=draft.credential_kind,
        credential_hash=draft.credential_hash,
        occurred_at=datetime.fromisoformat(draft.occurred_at),
        decision=draft.decision,
        reason=draft.reason,
        judged_without_roster=draft.judged_without_roster,
        meal=draft.meal,
        manual=draft.manual,
        reason_detail=list(draft.reason_detail),
    )
    assert Draft.from_body(draft.body(seq), draft.ref) == (seq, draft)


def test_occurred_at_keeps_the_local_offset() -> None:
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    draft = Draft(
        "0192f3c4-5e6a-7b8c-9d0e-1f2a3b4c5d6e",
        "s",
        "g",
        "d",
        EventKind.ENTRY,
        at.isoformat(),
        Decision.GRANTED,
        "no_roster",
    )
    assert '"occurred_at":"2026-11-20T08:00:00+05:00"' in draft.body(1)


@given(st.text(max_size=40))
def test_credential_hasher_matches_the_contract(card: str) -> None:
    assert CredentialHasher(b"school-key")(card) == credential_hash(b"school-key", card)
