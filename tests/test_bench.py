"""The benchmark runs end to end on small sizes and prints every figure (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mektep.backlog_bench import bench_backlog
from mektep.bench import bench_gateway
from mektep.cli import app
from mektep.readers_bench import bench_readers
from mektep.roster_bench import bench_roster


def test_bench_gateway_produces_every_figure() -> None:
    figures = bench_gateway(taps=20, saturation=500, drain=500)
    assert set(figures) == {
        "grant_p50_ms",
        "grant_p99_ms",
        "mqtt_grant_p50_ms",
        "mqtt_grant_p99_ms",
        "taps_per_s",
        "peer_taps_per_s",
        "limit_taps_per_s",
        "floor_taps_per_s",
        "drain_events_per_s",
    }
    assert all(value > 0 for value in figures.values())


def test_bench_ingest_measures_a_rate() -> None:
    result = CliRunner().invoke(app, ["bench", "ingest", "--batches", "2", "--batch-size", "20", "--clients", "2"])
    assert result.exit_code == 0, result.output
    assert "80 events in 4 batches from 2 gateway(s)" in result.output and "events/s" in result.output


def test_bench_readers_produces_every_figure() -> None:
    figures = bench_readers(reads=12, readers=3, interval_s=0.01)
    assert set(figures) == {
        "osdp_grant_p50_ms",
        "osdp_grant_p99_ms",
        "osdp_single_p50_ms",
        "osdp_single_p99_ms",
        "osdp_missed",
    }
    assert figures["osdp_missed"] == 0
    assert all(0 < figures[k] < 5000 for k in figures if k.endswith("_ms"))
    assert figures["osdp_grant_p50_ms"] <= figures["osdp_grant_p99_ms"]


def test_bench_roster_syncs_a_whole_school_and_judges_with_it() -> None:
    figures = bench_roster(students=40, taps=200)
    assert set(figures) == {
        "import_rows_per_s",
        "full_sync_s",
        "delta_sync_ms",
        "decision_p99_ms",
        "baseline_decision_p99_ms",
        "people_held",
    }
    assert figures["people_held"] == 42  # 40 students and 2 staff reached the gateway
    assert all(value > 0 for value in figures.values())


def test_bench_notify_follows_every_tap_to_a_phone_and_every_free_lunch_to_the_wallet() -> None:
    from mektep.notify_bench import bench_notify

    figures = bench_notify(students=30, rush_s=2.0, readers=2)
    assert {"push_p50_s", "push_p95_s", "pushes_per_s", "wallet_records_per_s"} <= set(figures)
    assert figures["rush_pushes"] == figures["burst_pushes"] > 30  # each child: one guardian, one or two devices
    assert figures["refused_by_push_service"] == 0
    assert figures["wallet_records"] > 0 and figures["push_p50_s"] <= figures["push_p95_s"]


def test_bench_report_builds_a_school_and_a_region(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from mektep.report_bench import bench_report

    own = make_url(postgres_url).set(database=f"{make_url(postgres_url).database}_bench")
    try:
        figures = bench_report(students=40, schools=3, postgres_url=own.render_as_string(hide_password=False))
    finally:
        admin = create_engine(own.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        admin.dispose()
    assert figures["region_schools"] == 3  # the generated region's; the one fed through ingest is elsewhere
    assert figures["region_events"] > 3 * 40 * 20 * 2  # entries and exits of every working day at least
    assert all(
        figures[k] > 0
        for k in (
            "rollup_events_per_s",
            "school_report_s",
            "region_report_s_postgres",
            "baseline_tabel_xlsx_s",
            "baseline_tabel_openpyxl_s",
        )
    )


def test_bench_sign_in_floods_a_real_server_and_every_attempt_is_refused_cleanly() -> None:
    import json

    result = CliRunner().invoke(app, ["bench", "sign-in", "--json", "--attempts", "20", "--concurrency", "5"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    for key in ("sign_ins_per_s", "healthz_p95_ms_during", "healthz_p95_ms_idle", "baseline_sign_ins_per_s"):
        assert figures[key] > 0, key
    assert figures["server_rss_growth_mib"] >= 0
    # Every wrong password is a 401, on the bounded server and on the baseline: never a 500 or a 503.
    assert figures["answers"] == {"401": 20} and figures["baseline_answers"] == {"401": 20}


def test_bench_office_asks_every_page_of_a_filled_school_and_gets_its_archive() -> None:
    from mektep.office_bench import bench_office

    figures = bench_office(students=100)
    for page in ("healthz", "today", "people", "person", "journal", "menu_week"):
        assert 0 < figures[f"{page}_p50_ms"] <= figures[f"{page}_p95_ms"], page
    assert figures["import_preview_s"] > 0 and figures["export_s"] > 0
    assert figures["export_mib"] > 0 and figures["events"] > 1000  # a month and a day of the school's taps
    assert figures["statement_p95_ms"] > 0 and figures["statement_lines"] > 300  # a year of a pupil's meals
    assert 0 < figures["ratings_month_p50_ms"] <= figures["ratings_month_p95_ms"] and figures["ratings"] > 1000
    assert figures.get("region_page_p95_ms", 0) > 0 or "region_note" in figures  # PostgreSQL, when it answers


def test_bench_backlog_produces_every_figure() -> None:
    figures = bench_backlog(backlog=600, rate=20.0, rtt_s=0.01, mbit_s=50.0)
    assert set(figures) == {
        "live_taps",
        "live_p50_ms",
        "live_p95_ms",
        "baseline_p50_ms",
        "baseline_p95_ms",
        "drain_events_per_s",
        "bytes_per_tap",
        "bytes_per_delivered_tap",
        "reserve_school_days",
    }
    assert all(value > 0 for value in figures.values())


def test_bench_fleet_sends_every_heartbeat_and_counts_each_failure() -> None:
    import json

    result = CliRunner().invoke(
        app, ["bench", "fleet", "--json", "--gateways", "100", "--rounds", "2", "--clients", "2"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["heartbeats"] == 2 * 99  # the silent one sends nothing
    assert figures["heartbeats_per_s"] > 0 and figures["fleet_page_p95_ms"] > 0 and figures["healthz_per_s"] > 0
    # a gateway failing in each way, each counted by the fleet page as what is wrong with it
    failing = ("silent", "reader_offline", "disk_low", "backlog_old", "clock_off")
    assert figures["fleet_counts"] == {**dict.fromkeys(failing, 1), "ok": 95}
    # each failing gateway got its alert, and no healthy one did
    assert figures["alerts_opened"] == 5 and figures["false_alerts"] == 0
    assert "alert_note" not in figures
    assert isinstance(figures["alert_latency_p95_s"], float) and isinstance(figures["alert_latency_max_s"], float)
    assert figures["alert_round_ms_p95"] > 0


def test_bench_integrations_signs_students_in_and_follows_every_tap_to_a_verifying_receiver_in_order(
    tmp_path: Path,
) -> None:
    import json

    # One database for both parts, as --database-url gives them: the webhooks' school is not the only one.
    database = f"sqlite:///{tmp_path / 'integrations.db'}"
    sizes = ["--students", "40", "--rush", "2", "--sign-ins", "8", "--clients", "2"]
    result = CliRunner().invoke(app, ["bench", "integrations", "--json", *sizes, "--database-url", database])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    # every flow ended with an ID token verified against the JWKS
    assert figures["oidc_sign_ins"] == 8 and figures["oidc_failures"] == 0
    # every entry and every exit reached the receiver, verified, once and in order
    assert figures["webhooks"] == 2 * figures["students"] == 80 and figures["webhooks_in_order"] is True
    assert figures["refused_by_receiver"] == 0
    for name in ("oidc_sign_ins_per_s", "webhooks_per_s", "webhook_lag_p95_s", "healthz_pairs_per_s"):
        assert figures[name] > 0, name
    assert figures["receiver_direct_per_s"] > 0


def test_bench_qr_verify_checks_every_wallet_code_once_within_its_window() -> None:
    from mektep.qr_bench import bench_qr_verify

    figures = bench_qr_verify(students=50, codes=200)
    assert figures["qr_codes"] == 200 and figures["qr_refused"] == 0  # each code distinct, none stale
    assert 0 < figures["qr_verify_p50_ms"] <= figures["qr_verify_p99_ms"] and figures["baseline_card_p99_ms"] > 0
