"""A reader's answer reaches its own driver; a grant also opens the relay board its turnstile hangs on."""

from __future__ import annotations

from pathlib import Path

from device_drivers.base import Direction, Feedback, LinkDriver, ReadSink
from gateway.app import Gateway
from gateway.config import parse_site
from gateway.policy import AccessPoint, Place


class Recorder(LinkDriver):
    def __init__(self, *ids: str) -> None:
        super().__init__()
        self.link_id, self.reader_ids = ids[0], ids
        self.got: list[tuple[str, Feedback]] = []

    async def open(self) -> None: ...

    async def read(self, sink: ReadSink) -> None: ...

    async def close(self) -> None: ...

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        self.got.append((reader_id, feedback))


def test_grant_opens_the_relay_and_deny_does_not(tmp_path: Path) -> None:
    site = parse_site(
        f"""
school: {{id: s1, name: School}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {tmp_path}}}
cloud: {{url: "http://127.0.0.1:9"}}
"""
    )
    reader, relay, other = Recorder("in-1"), Recorder("relay-1"), Recorder("in-2")
    gateway = Gateway(
        site, key=b"k", credential_key=b"c", drivers=[reader, relay, other],
        points={"in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)}, releases={"in-1": "relay-1"},
    )  # fmt: skip
    grant = Feedback(True, "no_roster", "Welcome", unlock=Direction.ENTRY)
    deny = Feedback(False, "card_blocked", "Denied")
    gateway._route_feedback("in-1", grant)
    gateway._route_feedback("in-1", deny)
    gateway._route_feedback("in-2", grant)  # a reader without a relay: nothing else moves
    assert reader.got == [("in-1", grant), ("in-1", deny)]
    assert relay.got == [("relay-1", grant)]
    assert other.got == [("in-2", grant)]
