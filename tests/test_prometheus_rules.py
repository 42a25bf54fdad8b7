"""The alert rules as a Prometheus rules file: promtool checks them and runs their unit tests, and a real
Prometheus scrapes a running gateway and a running cloud with them loaded.

Debian's ``prometheus`` package gives both ``promtool`` and ``prometheus`` (.ci/run installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mektep.processes import CloudProcess, GatewayProcess, free_port, wait_http, write_site
from simulators.serial_reader import SerialReaderSim
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "firmware_configs" / "prometheus" / "mektep-rules.yml"
UNIT_TESTS = ROOT / "tests" / "prometheus" / "mektep-rules.test.yml"
README = ROOT / "README.md"
PROMETHEUS_MISSING = "Prometheus is not installed (apt-get install prometheus: promtool and prometheus)"
SCHOOL, GATEWAY = "prom-school", "gw-prom"
KZ = timedelta(hours=5)


def tool(name: str) -> str:
    """The path of ``promtool`` or ``prometheus``; skipped (failed in CI) when not installed."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    need(path is not None, PROMETHEUS_MISSING)
    assert path is not None
    return path


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the file, as written."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_finds_the_rules_file_valid() -> None:
    done = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules()) + 1} rules found" in done.stdout


def test_every_rule_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    done = subprocess.run(
        [tool("promtool"), "test", "rules", str(UNIT_TESTS)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_unit_tests_that_expect_it_and_expect_nothing() -> None:
    """Each alert is expected to fire somewhere in the unit tests, and expected not to somewhere else."""
    cases = [
        case for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"] for case in test.get("alert_rule_test", [])
    ]
    for rule in alert_rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} is never expected to fire"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} is never expected to stay quiet"


def test_every_alert_says_how_bad_what_and_where_the_runbook_is() -> None:
    headings = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in README.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "README.md" and anchor in headings, f"{rule['alert']}: no README section #{anchor}"
        assert "for" in rule and "keep_firing_for" in rule, f"{rule['alert']} would open and close on every blip"
        # The README's runbook names every alert.
        assert f"`{rule['alert']}`" in README.read_text(), f"{rule['alert']} is not in the README's runbook"


# --- a real Prometheus -------------------------------------------------------------------------------


@dataclass
class Watched:
    """A cloud and a gateway, and a Prometheus that scrapes both every second with the rules loaded."""

    prometheus_url: str
    cloud: CloudProcess
    gateway: GatewayProcess

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a list of series with ``metric`` and ``value``)."""
        response = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr}, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str, timeout_s: float = 15.0) -> float:
        """The value of a query that gives one series, once it does (scrapes and rules take a few seconds)."""
        deadline = time.monotonic() + timeout_s
        while not (result := self.query(expr)):
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus has no series for {expr} after {timeout_s:g} s")
            time.sleep(0.2)
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def reaches(self, expr: str, want: float, timeout_s: float = 15.0) -> float:
        """The value of ``expr`` once it is ``want``, else the last one seen after ``timeout_s``.

        Prometheus starts with the gateway and the cloud: its first scrape may come before they
        listen (``up`` 0), the next one finds them.
        """
        deadline = time.monotonic() + timeout_s
        while (seen := self.value(expr, timeout_s)) != want and time.monotonic() < deadline:
            time.sleep(0.2)
        return seen


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Watched]:
    prometheus = tool("prometheus")
    reader = SerialReaderSim(tmp_path / "ttyIN", seed=1)
    cloud = CloudProcess(tmp_path / "cloud", port=free_port())
    env = write_site(
        tmp_path / "gw" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=tmp_path / "gw" / "data",
        readers=[{"id": "in-1", "framing": "em4100", "port": str(reader.link), "direction": "entry"}],
        terminals=[],
        mqtt_port=None,
    )
    # A heartbeat every second: the gateway measures its clock from the first one the cloud answers.
    site = yaml.safe_load((tmp_path / "gw" / "site.yaml").read_text())
    site["cloud"]["heartbeat_interval_s"] = 1
    (tmp_path / "gw" / "site.yaml").write_text(yaml.safe_dump(site))
    cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
    gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "mektep-gateway",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{gateway.ui_port}"], "labels": {"school": SCHOOL, "gateway": GATEWAY}}
                ],
            },
            {"job_name": "mektep-cloud", "static_configs": [{"targets": [f"127.0.0.1:{cloud.port}"]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        # All three start at once; each waits for nothing of the others.
        cloud.start()
        gateway.start()
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(cloud.url + "/healthz", proc=cloud.proc)
        wait_http(gateway.url + "/healthz", proc=gateway.proc)
        wait_http(url + "/-/ready", timeout_s=15, proc=proc)
        yield Watched(url, cloud, gateway)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        gateway.stop()
        cloud.stop()
        reader.close()


def school_hours(at: datetime) -> int:
    local = at + KZ  # Kazakhstan is UTC+5 all year
    return int(local.weekday() < 5 and 7 <= local.hour < 19)


def test_a_real_prometheus_scrapes_a_gateway_and_a_cloud_with_the_rules_loaded(watched: Watched) -> None:
    assert watched.reaches('up{job="mektep-gateway", school="prom-school", gateway="gw-prom"}', 1) == 1
    assert watched.reaches('up{job="mektep-cloud"}', 1) == 1
    # the gateway: its disk, its reader and its clock as the cloud's heartbeat answer measured it
    assert 0 < watched.value("mektep_gateway_disk_free_ratio") <= 1
    assert watched.value("mektep_gateway_memory_total_bytes") > 0
    assert watched.value('mektep_gateway_part_state{part="link:in-1", state="ok"}') == 1
    assert watched.value('mektep_gateway_part_state{part="forwarder", state="stopped"}') == 0
    # The reader's status events go to the cloud as they come: one may be on its way at a scrape,
    # seconds old, never the hour the rule waits for.
    assert watched.value("mektep_gateway_outbox_oldest_pending_age_seconds") < 60
    assert abs(watched.value("mektep_gateway_clock_offset_seconds")) < 2  # same machine, same clock
    # the cloud: its database answers and its queues are empty
    assert watched.value("mektep_cloud_database_up") == 1
    assert watched.value('mektep_cloud_queue_pending{queue="wallet"}') == 0
    assert watched.value('mektep_cloud_queue_oldest_age_seconds{queue="push"}') == 0
    assert watched.value("mektep_cloud_process_resident_bytes") > 1_000_000
    # the recording rule says school hours as Kazakhstan's clock does (either side of a minute's turn)
    before = datetime.now(UTC)
    hours = watched.value("mektep:school_hours")
    assert hours in {school_hours(before - timedelta(seconds=5)), school_hours(datetime.now(UTC))}
    # every group and rule of the file is loaded, evaluated without error, and nothing alerts
    rules = httpx.get(f"{watched.prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {g["name"] for g in rules} == {"mektep-calendar", "mektep-gateways", "mektep-cloud"}
    loaded = {r["name"]: r for g in rules for r in g["rules"]}
    assert set(loaded) == {"mektep:school_hours", *(rule["alert"] for rule in alert_rules())}
    deadline = time.monotonic() + 10
    while any(r["health"] != "ok" for r in loaded.values()) and time.monotonic() < deadline:
        time.sleep(0.5)  # a rule is "unknown" until its group's first evaluation
        groups = httpx.get(f"{watched.prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
    assert {name: r["health"] for name, r in loaded.items() if r["health"] != "ok"} == {}
    assert watched.query('ALERTS{alertstate="firing"}') == []
