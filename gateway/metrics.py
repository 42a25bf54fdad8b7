"""Prometheus metrics of one gateway, read from its parts' counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
