"""The cloud API, built in a factory so that tests can hand it their own settings and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.alerts.worker import alert_worker
from cloud_api.api.errors import install_error_handlers
from cloud_api.api.openapi import complete_openapi
from cloud_api.api.routes import (
    account_admin,
    accounts,
    activation,
    canteen,
    events,
    family,
    health,
    heartbeat,
    ingest,
    integration_webhooks,
    integrations,
    people,
    photos,
    push,
    reports,
    roster_admin,
    second_factor,
    social_wallet,
    sync,
)
from cloud_api.api.security_headers import SecurityHeaders
from cloud_api.background.supervisor import Supervisor
from cloud_api.core.security_events import SecurityContext, SecurityLog
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.integrations.oidc import web as oidc_web
from cloud_api.integrations.oidc.housekeeping import OidcPruner
from cloud_api.integrations.webhooks.worker import webhook_worker
from cloud_api.nedb.worker import nedb_worker
from cloud_api.push.absence_worker import AbsenceWorker
from cloud_api.push.start import push_worker
from cloud_api.reports.jobs import report_jobs
from cloud_api.services.accounts import deployment_admin_with_second_factor
from cloud_api.services.gateway_health import HeartbeatPruner
from cloud_api.services.passwords import HashSlots, bound_hashes
from cloud_api.services.process_health import CloudHealthCollector
from cloud_api.services.school_export import ExportWorker
from cloud_api.settings import CloudSettings
from cloud_api.social_wallet.worker import wallet_worker
from cloud_api.web import account, app_home, office, parent, parent_absence, sign_in, student
from cloud_api.web import activation as web_activation
from cloud_api.web import passkeys as web_passkeys
from cloud_api.web import single_sign_on as web_single_sign_on
from cloud_api.web.pages import RotatedSessionCookie, SignInNeeded
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Batch, Heartbeat

__all__ = ["DOCS_ASSETS", "create_app", "security_log_of"]

DOCS_ASSETS = "/docs-assets"  # where Swagger UI's and ReDoc's scripts are served from

DESCRIPTION = """\
Signed, idempotent ingest of school gateway events, and their read-back by local day.

* **Ingest** — `POST /v1/ingest/batches`, HMAC-signed by the gateway (see the operation); and
  `POST /v1/gateways/{gateway}/heartbeat`, the gateway's health every minute, signed the same way.
* **Read-back** — `GET /v1/schools/{school_id}/events?date=YYYY-MM-DD`: school_admin or canteen_staff of the
  school, or the admin token.
* **Accounts** — `POST /v1/auth/sign-in` gives a session token; send it as `Authorization: Bearer <token>`.
  Roles (ministry, region, school_admin, canteen_staff, guardian, student) are granted per scope and kept
  as history. The admin token acts as the system everywhere an account is accepted.
* **People** — a guardian reads and gives consent for their own children only; staff only their school.
* **Roster** — the school's administrator uploads the NEDB export (CSV or XLSX), finds people, gives out,
  blocks and replaces cards, and reads the audit journal; canteen staff find people without IIN or contacts.
* **Canteen** — meal rules, dishes with photos and prices, the day's menu (§33-1.3); a guardian's allergen
  bans (§33-1.7) and daily limit; the prepaid balance, credited by the school admin, charged per paid meal.
* **Social Wallet** — every free or discounted meal is sent to the state's Social Wallet once (§33-2); the
  school admin sees the records it rejected and the month's табель against its receipts.
* **Integrations** — an outside system registered in the office (an e-diary, a learning platform, an
  access-control system) gets a token at `POST /v1/oauth/token` (OAuth 2.0 client credentials) and reads
  its schools' attendance, meals and roster under `/v1/integrations/`, each route with its scope; it
  subscribes itself to signed webhooks of its schools' entries, exits, meals and roster changes under
  `/v1/integrations/webhooks`. Every call is journalled and limited a minute per system.
* **Operations** — `GET /healthz`, `GET /metrics` (Prometheus).
"""


def _require_a_deployment_admin(engine: Engine) -> None:
    # With the admin token off, a deployment administrator with a second factor is the only way in
    # for what only the system could do: refuse to start rather than lock the deployment out.
    with engine.connect() as conn:
        if not deployment_admin_with_second_factor(conn):
            raise RuntimeError(
                "MEKTEP_CLOUD_ADMIN_TOKEN_ENABLED=false needs a deployment administrator with a second factor: "
                "run `mektep cloud admin-add LOGIN --deployment`, sign in at /office/sign-in and set up the app first"
            )


def security_log_of(settings: CloudSettings) -> SecurityLog | None:
    """Where this deployment's security events go (§5.20), or None when neither a file nor syslog is set."""
    if settings.security_log is None and settings.security_syslog is None:
        return None
    return SecurityLog(settings.security_log, settings.security_syslog, settings.security_syslog_facility)


def create_app(settings: CloudSettings | None = None) -> FastAPI:
    """A new app for ``settings`` (read from the environment when None).

    Nothing touches the database until the app starts: the lifespan runs the migrations (when
    ``settings.migrate_on_start``) and makes the engine, and disposes of it at shutdown.
    """
    settings = settings or CloudSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(upgrade, settings.database_url, settings.data_keys())
        app.state.engine = engine = make_engine(settings.database_url, settings.data_keys())
        if not settings.admin_token_enabled:
            await run_in_threadpool(_require_a_deployment_admin, engine)
        # Made here, on the loop that serves the requests that will wait on it.
        app.state.hash_slots = HashSlots(settings.password_hash_slots, settings.sign_in_max_waiting)
        bound_hashes(settings.password_hash_slots)
        # Every background worker of this process, on its event loop: push notices, the Social
        # Wallet, the report jobs; each only where the settings ask for it.
        # This process's health in /metrics: a registry of the app's own, for it needs the engine.
        app.state.health_registry = CollectorRegistry()
        health_collector = CloudHealthCollector(engine)
        app.state.health_registry.register(health_collector)
        app.state.background = background = Supervisor()
        workers = [
            await run_in_threadpool(push_worker, engine, settings),
            wallet_worker(settings, engine),
            report_jobs(engine, settings),
            ExportWorker(engine),
            HeartbeatPruner(engine, timedelta(hours=settings.heartbeat_retention_hours)),
            OidcPruner(engine),
            await run_in_threadpool(alert_worker, engine, settings),
            nedb_worker(settings, engine, security_log=app.state.security_log),
            webhook_worker(
                engine,
                development=settings.environment == "development",
                interval_s=settings.webhook_poll_s,
                concurrency=settings.webhook_concurrency,
            )
            if settings.webhooks_enabled
            else None,
            AbsenceWorker(engine, wake=background.wake),  # only schools that set their day are swept
        ]
        for worker in workers:
            if worker is not None:
                background.start(worker)
        try:
            yield
        finally:
            await background.stop()  # before the engine goes: a round may be settling
            health_collector.close()
            engine.dispose()
            if app.state.security_log is not None:
                app.state.security_log.close()

    # /docs and /redoc load Swagger UI and ReDoc from the installed fastapi-offline package, not a
    # CDN: a school's or a ministry's closed network has no public Internet.
    app = FastAPIOffline(
        title="Mektep Gate cloud API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    app.state.settings = settings
    app.state.security_log = security_log = security_log_of(settings)
    app.add_middleware(SecurityContext, log=security_log)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RotatedSessionCookie)
    app.include_router(ingest.router)
    app.include_router(events.router)
    app.include_router(sync.router)
    app.include_router(heartbeat.router)
    app.include_router(accounts.router)
    app.include_router(second_factor.router)
    app.include_router(account_admin.router)
    app.include_router(activation.router)
    app.include_router(people.router)
    app.include_router(family.router)
    app.include_router(canteen.router)
    app.include_router(photos.router)
    app.include_router(push.router)
    app.include_router(social_wallet.router)
    app.include_router(integrations.router)
    app.include_router(integration_webhooks.router)
    app.include_router(sign_in.router)
    app.include_router(account.router)
    app.include_router(web_activation.router)
    app.include_router(web_passkeys.router)
    app.include_router(web_single_sign_on.router)
    app.include_router(app_home.router)
    app.include_router(parent.router)
    app.include_router(student.router)
    app.include_router(parent_absence.router)
    app.include_router(oidc_web.router)
    app.include_router(office.router)
    install_error_handlers(app, page_answer=parent.error_page)
    app.add_exception_handler(SignInNeeded, parent.sign_in_redirect)
    app.include_router(roster_admin.router)
    app.include_router(reports.router)
    app.include_router(health.router)
    complete_openapi(app, [Batch, Heartbeat], required_headers=[HEADER_GATEWAY, HEADER_TIMESTAMP, HEADER_SIGNATURE])
    return app
