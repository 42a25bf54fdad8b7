"""Prometheus metrics of one gateway, read from its parts' counters at scrape time.

The health figures (host, parts, outbox age, clock, version) are those of the gateway's last
health sample, which ``/metrics`` takes just before it answers (:meth:`gateway.app.Gateway.health`):

    mektep_gateway_cpu_ratio                        host CPU use, 0..1
    mektep_gateway_memory_used_bytes / _total_bytes host memory
    mektep_gateway_disk_free_bytes / _free_ratio    free space on the outbox's filesystem
    mektep_gateway_network_sent_bytes_total         bytes over every interface but loopback
    mektep_gateway_network_received_bytes_total
    mektep_gateway_network_link_up{interface}       1 when the interface is up
    mektep_gateway_part_state{part, state}          1 for the part's current state (ok, failing,
                                                    offline, stopped, off), 0 for the others
    mektep_gateway_outbox_oldest_pending_age_seconds  age of the oldest undelivered event (0: none)
    mektep_gateway_clock_offset_seconds             the gateway's clock minus the cloud's
                                                    (absent until the cloud first answered)
    mektep_gateway_uptime_seconds, mektep_gateway_build_info{version}
    mektep_gateway_heartbeats_total{outcome}        heartbeats sent and failed
    mektep_gateway_qr_refusals_total{reason}        Social Wallet codes refused: qr_stale, qr_replayed,
                                                    qr_bad_signature, qr_unknown_voucher, ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.contract import PartState

if TYPE_CHECKING:
    from gateway.app import Gateway

__all__ = ["GatewayCollector"]


class GatewayCollector(Collector):
    """Exposes the pipeline, outbox, forwarder and driver counters without global state."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[Metric]:
        """One sample per counter, labelled by link and reason where they have them."""
        status = self._gateway.status()
        reads = CounterMetricFamily("mektep_gateway_reads", "Card reads decided", labels=["decision"])
        p = status["pipeline"]
        reads.add_metric(["granted"], p["granted"])
        reads.add_metric(["denied"], p["denied"])
        reads.add_metric(["repeat"], p["repeats"])
        yield reads
        yield CounterMetricFamily("mektep_gateway_storage_errors", "Failed outbox commits", value=p["storage_errors"])
        outbox = GaugeMetricFamily("mektep_gateway_outbox_events", "Events held, by state", labels=["state"])
        for state in ("pending", "delivered", "rejected"):
            outbox.add_metric([state], status["outbox"].get(state, 0))
        yield outbox
        f = status["forwarder"]
        yield GaugeMetricFamily("mektep_gateway_cloud_online", "1 when the last batch went", value=f["cloud_online"])
        yield CounterMetricFamily("mektep_gateway_forward_failures", "Failed batch attempts", value=f["failures"])
        online = GaugeMetricFamily("mektep_gateway_link_online", "1 when a driver's link is up", labels=["link"])
        errors = CounterMetricFamily("mektep_gateway_link_errors", "Bad input by kind", labels=["link", "kind"])
        for d in status["drivers"]:
            online.add_metric([d["link"]], d["online"])
            for kind, n in d["errors"].items():
                errors.add_metric([d["link"], kind], n)
        yield online
        yield errors
        beats = CounterMetricFamily(
            "mektep_gateway_heartbeats", "Heartbeats to the cloud, by outcome", labels=["outcome"]
        )
        beats.add_metric(["sent"], status["heartbeat"]["sent"])
        beats.add_metric(["failed"], status["heartbeat"]["failed"])
        yield beats
        refusals = CounterMetricFamily(
            "mektep_gateway_qr_refusals", "Social Wallet QR codes refused, by reason", labels=["reason"]
        )
        for reason, n in sorted(status.get("qr_refusals", {}).items()):
            refusals.add_metric([reason], n)
        yield refusals
        yield from self._health()

    def _health(self) -> Iterator[Metric]:
        health = self._gateway.last_health
        if health is None:
            return
        host = health.host
        yield GaugeMetricFamily("mektep_gateway_cpu_ratio", "Host CPU use, 0..1", value=host.cpu_ratio)
        yield GaugeMetricFamily("mektep_gateway_memory_used_bytes", "Host memory in use", value=host.memory_used_bytes)
        yield GaugeMetricFamily("mektep_gateway_memory_total_bytes", "Host memory", value=host.memory_total_bytes)
        yield GaugeMetricFamily(
            "mektep_gateway_disk_free_bytes", "Free space on the outbox's filesystem", value=host.disk_free_bytes
        )
        yield GaugeMetricFamily(
            "mektep_gateway_disk_free_ratio", "Free share of the outbox's filesystem, 0..1", value=host.disk_free_ratio
        )
        yield CounterMetricFamily(
            "mektep_gateway_network_sent_bytes", "Bytes sent by every interface but loopback", value=host.net_sent_bytes
        )
        yield CounterMetricFamily(
            "mektep_gateway_network_received_bytes",
            "Bytes received by every interface but loopback",
            value=host.net_received_bytes,
        )
        links = GaugeMetricFamily("mektep_gateway_network_link_up", "1 when the interface is up", labels=["interface"])
        for name, up in sorted(host.links.items()):
            links.add_metric([name], int(up))
        yield links
        parts = GaugeMetricFamily(
            "mektep_gateway_part_state", "1 for each part's current state, 0 for the others", labels=["part", "state"]
        )
        for name, current in sorted(health.parts.items()):
            for state in PartState:
                parts.add_metric([name, state.value], int(state is current))
        yield parts
        yield GaugeMetricFamily(
            "mektep_gateway_outbox_oldest_pending_age_seconds",
            "Age of the oldest event not yet delivered to the cloud (0 when none waits)",
            value=health.oldest_pending_age_s or 0.0,
        )
        if health.clock_offset_s is not None:
            yield GaugeMetricFamily(
                "mektep_gateway_clock_offset_seconds",
                "The gateway's clock minus the cloud's, from the last heartbeat's answer",
                value=health.clock_offset_s,
            )
        yield GaugeMetricFamily(
            "mektep_gateway_uptime_seconds", "Seconds since the gateway started", value=health.uptime_s
        )
        info = GaugeMetricFamily("mektep_gateway_build_info", "The gateway software's version", labels=["version"])
        info.add_metric([health.version], 1)
        yield info
