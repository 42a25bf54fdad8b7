"""OSDP buses in the site file: validated where they are written, turned into drivers and turnstiles."""

from __future__ import annotations

import logging

import pytest

from device_drivers.base import Direction
from device_drivers.osdp.driver import OsdpDriver
from gateway.site.config import ConfigError, parse_site
from gateway.site.devices import build_devices
from gateway.taps.policy import AccessPoint, Place

HEAD = """
school: {id: s1, name: School}
gateway: {id: gw1, key: {env: K}, credential_key: {env: C}}
cloud: {url: "http://127.0.0.1:9"}
"""
BUS = """
osdp_buses:
  - id: bus-1
    port: /dev/ttyOSDP
    readers:
      - {id: in-1, address: 1, direction: entry, scbk: {env: SCBK_IN}, pulse_ms: 2000}
      - {id: out-1, address: 2, direction: exit, scbk: {env: SCBK_OUT}, install_mode: true, exit_output: 3}
"""


def test_a_bus_becomes_one_driver_and_each_reader_a_turnstile(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SCBK_IN", "00112233445566778899AABBCCDDEEFF")
    monkeypatch.setenv("SCBK_OUT", "ffeeddccbbaa99887766554433221100")
    site = parse_site(HEAD + BUS)
    assert {"bus-1", "in-1", "out-1"} <= site.device_ids()
    with caplog.at_level(logging.WARNING):
        devices = build_devices(site)
    assert "out-1" in caplog.text and "install mode" in caplog.text and "in-1 " not in caplog.text
    (driver,) = devices.drivers
    assert isinstance(driver, OsdpDriver)
    assert driver.link_id == "bus-1" and driver.reader_ids == ("in-1", "out-1") and driver.config.baud == 115200
    first, second = driver.config.readers
    assert first.scbk == bytes.fromhex("00112233445566778899aabbccddeeff") and not first.install_mode
    assert first.signals.pulse_ms == 2000 and first.signals.entry_output == 0
    assert second.install_mode and second.address == 2 and second.signals.exit_output == 3
    assert devices.points == {
        "in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY),
        "out-1": AccessPoint("out-1", Place.TURNSTILE, Direction.EXIT),
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("address: 2, direction: exit", "address: 1, direction: exit"), "osdp_buses[0]", "address 1 is used twice"),
        (("address: 2,", "address: 127,"), "osdp_buses[0].readers[1].address", "less than or equal to 126"),
        (("id: out-1", "id: bus-1"), "<root>", "device id 'bus-1' is used twice"),
        (("baud: 115200", "baud: 1200"), "osdp_buses[0].baud", "Input should be"),
        (
            ("scbk: {env: SCBK_OUT}", 'scbk: "ffeeddccbbaa99887766554433221100"'),
            "osdp_buses[0].readers[1].scbk",
            "a secret is never written in the file",
        ),
    ],
)
def test_mistakes_are_named_by_line_and_field(change: tuple[str, str], field: str, message: str) -> None:
    text = HEAD + BUS.replace("    port: /dev/ttyOSDP", "    port: /dev/ttyOSDP\n    baud: 115200")
    assert change[0] in text
    with pytest.raises(ConfigError) as caught:
        parse_site(text.replace(*change))
    (problem,) = caught.value.problems
    assert problem.field == field and message in problem.message and problem.line is not None


def test_a_reader_id_may_not_repeat_another_kind_of_device() -> None:
    em4100 = "readers:\n  - {id: in-1, framing: em4100, port: /dev/ttyUSB0, direction: entry}\n"
    with pytest.raises(ConfigError, match="device id 'in-1' is used twice"):
        parse_site(HEAD + em4100 + BUS)


@pytest.mark.parametrize("value", ["0011", "zz112233445566778899AABBCCDDEEFF", "00112233445566778899AABBCCDDEEFF00"])
def test_an_scbk_that_is_not_16_bytes_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SCBK_IN", value)
    monkeypatch.setenv("SCBK_OUT", "ffeeddccbbaa99887766554433221100")
    with pytest.raises(ConfigError) as caught:
        build_devices(parse_site(HEAD + BUS))
    assert "in-1.scbk" in str(caught.value) and "32 hex" in str(caught.value) and value not in str(caught.value)


def test_a_missing_scbk_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCBK_IN", "00112233445566778899AABBCCDDEEFF")
    monkeypatch.delenv("SCBK_OUT", raising=False)
    with pytest.raises(ConfigError, match="SCBK_OUT is not set"):
        build_devices(parse_site(HEAD + BUS))
