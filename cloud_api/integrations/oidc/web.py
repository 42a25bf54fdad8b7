"""The provider's routes, under ``/oidc`` (issuer ``{public_url}/oidc``).

    GET  /oidc/.well-known/openid-configuration    discovery
    GET  /oidc/jwks                                the keys ID tokens are signed with
    GET  /oidc/authorize                           sign-in (sends a signed-out student to /app/sign-in
                                                   and back), then the consent page or the code
    POST /oidc/authorize                           the consent page's answer
    POST /oidc/token                               code → tokens (client_secret_basic or _post)
    GET|POST /oidc/userinfo                        the agreed claims, for the access token
    GET|POST /oidc/end-session                     RP-initiated logout
    GET  /oidc/platforms, POST …/{id}/withdraw      a student's own platforms

A refusal that the platform should hear of (the student said no, PKCE missing) goes back to its
redirect URI as OAuth says; one it must not (an unknown client, a redirect URI not registered)
is a page in the reader's language and never a redirect.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import Counter
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import SESSION_COOKIE, require_same_origin
from cloud_api.core.security_events import Kind, Outcome, record_security_event
from cloud_api.integrations.clients import may_serve_school
from cloud_api.integrations.oidc.grants import grant_in_force, is_blocked, platforms_of, record_grant, withdraw
from cloud_api.integrations.oidc.http import oauth2_request
from cloud_api.integrations.oidc.keys import jwks, signing_key
from cloud_api.integrations.oidc.provider import MektepProvider, RelyingParty, SignedIn, in_transaction, offered_claims
from cloud_api.integrations.oidc.students import CLAIM_LABELS, Student, student_of
from cloud_api.services.sessions import LiveSession, end_session, live_session
from cloud_api.web.pages import LANG_COOKIE, page, page_language
from cloud_api.web.sign_in import OIDC_RETURN_COOKIE
from shared.i18n import LANGUAGES, Translator, translator

__all__ = ["issuer_of", "provider_of", "router"]

router = APIRouter(prefix="/oidc", include_in_schema=False)
REFUSALS = Counter("mektep_oidc_refusals_total", "Single sign-on requests refused, by reason", ["reason"])
INVALID_REQUEST = "The sign-in request of this platform is not valid. Open the platform again and sign in from there."
# prompt=login asks for a sign-in at least this fresh (a student just signed in is not asked twice).
_FRESH = timedelta(minutes=5)


def issuer_of(request: Request) -> str:
    """The issuer: ``{public_url}/oidc``, else this request's own origin."""
    public_url = request.app.state.settings.public_url
    base = public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")
    return f"{base}/oidc"


def provider_of(request: Request) -> MektepProvider:
    """The app's provider, made at its first use (the issuer depends on the settings)."""
    provider: MektepProvider | None = getattr(request.app.state, "oidc_provider", None)
    if provider is None:
        provider = request.app.state.oidc_provider = MektepProvider(issuer_of(request))
    return provider


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _language(request: Request, hint: str | None = None) -> str:
    # A code only: a translator is made for a page, not for each redirect (it copies the catalog).
    for wanted in (hint or "").split():
        if wanted[:2] in LANGUAGES:
            return wanted[:2]
    return page_language(request)


def _message(request: Request, _: Translator, text: str, *, status: int, title: str | None = None) -> HTMLResponse:
    answer = page(request, "oidc_message.html", _, title=title or _("Single sign-on"), message=text)
    answer.status_code = status
    return answer


def _session(conn: Connection, request: Request, now: datetime) -> LiveSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    return live_session(conn, token, now) if token else None


@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> JSONResponse:
    """The discovery document."""
    return JSONResponse(provider_of(request).discovery(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/jwks")
def jwks_document(request: Request) -> JSONResponse:
    """The public keys: the one that signs and those retired lately (tokens they signed still verify)."""
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        signing_key(conn, now)  # the first key exists before anyone asks for it
        document = jwks(conn, now)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


def _authorize(request: Request, form: Any, decision: str | None, chosen: list[str]) -> Response:
    provider = provider_of(request)
    now = datetime.now(UTC)
    oauth = oauth2_request(request, form, request.app.state.settings.public_url)
    language = _language(request, oauth.payload.data.get("ui_locales"))
    with _engine(request).begin() as conn, in_transaction(conn, now):
        session = _session(conn, request, now)
        try:
            # Authlib answers prompt=none for a signed-out browser itself (login_required).
            grant = provider.get_consent_grant(oauth, end_user=session)
        except OAuth2Error as error:
            REFUSALS.labels(error.error).inc()
            if error.redirect_uri:
                return provider.handle_error_response(oauth, error)
            _ = translator(language)
            return _message(request, _, _(INVALID_REQUEST), status=400)
        client: RelyingParty = oauth.client
        prompts = (oauth.payload.data.get("prompt") or "").split()
        stale = decision is None and session is not None and now - session.created_at > _freshness(oauth, prompts)
        if session is None or stale:
            if "none" in prompts:
                return _refuse_to_platform(provider, oauth, grant, "login_required")
            back = RedirectResponse(f"/app/sign-in?lang={language}", status_code=303)
            return_to = request.url.path + ("?" + request.url.query if request.url.query else "")
            if request.method == "GET":
                back.set_cookie(OIDC_RETURN_COOKIE, return_to, max_age=900, httponly=True, samesite="lax", path="/")
            return back
        student = student_of(conn, session.account_id)
        if student is None or not may_serve_school(conn, client.record, student.school_id):
            REFUSALS.labels("not_a_student_served").inc()
            _ = translator(language)
            text = _("Only students of the schools this platform serves sign in to it with Mektep Gate.")
            return _message(request, _, text, status=403)
        if is_blocked(conn, student.account_id, client.record.client_id):
            REFUSALS.labels("guardian_withdrew").inc()
            _ = translator(language)
            text = _(
                "Your parent withdrew the consent for this platform. Ask them to allow it again in the parent app."
            )
            return _message(request, _, text, status=403)
        offered = offered_claims(client.record, oauth.scope)
        agreed = grant_in_force(conn, student.account_id, client.record.client_id)
        if decision == "deny":
            return provider.create_authorization_response(oauth, grant_user=None, grant=grant)
        if decision == "allow":
            agreed = record_grant(
                conn,
                student.account_id,
                client.record.client_id,
                [c for c in chosen if c in offered],
                offered=offered,
                school_id=student.school_id,
                now=now,
            )
        elif agreed is None or not agreed.covers(offered) or "consent" in prompts:
            if "none" in prompts:
                return _refuse_to_platform(provider, oauth, grant, "consent_required")
            return _consent_page(request, translator(language), oauth, client, offered, student)
        user = SignedIn(student, client.record, tuple(c for c in offered if c in agreed.claims), session.created_at)
        answer = provider.create_authorization_response(oauth, grant_user=user, grant=grant)
    answer.delete_cookie(OIDC_RETURN_COOKIE, path="/")
    return answer


def _freshness(oauth: Any, prompts: list[str]) -> timedelta:
    """How recent a sign-in the platform asks for: ``prompt=login`` a fresh one, ``max_age`` its own (else any)."""
    limits = [_FRESH] if "login" in prompts else []
    max_age = oauth.payload.data.get("max_age", "")
    if max_age.isdigit():
        limits.append(timedelta(seconds=int(max_age)))
    return min(limits, default=timedelta.max)


def _refuse_to_platform(provider: MektepProvider, oauth: Any, grant: Any, error: str) -> Response:
    kind = LoginRequiredError if error == "login_required" else ConsentRequiredError
    refusal = kind(redirect_uri=grant.redirect_uri, state=oauth.payload.state)
    return provider.handle_error_response(oauth, refusal)


def _consent_page(
    request: Request, _: Translator, oauth: Any, client: RelyingParty, offered: tuple[str, ...], student: Student
) -> HTMLResponse:
    # The authorization request travels in the form, as it came (repeated values were refused).
    kept = {k: v for k, v in oauth.payload.data.items() if k not in ("decision", "claim")}
    claims = [(name, _(CLAIM_LABELS[name])) for name in CLAIM_LABELS if name in offered]
    who = f"{student.first_name} {student.last_name}"
    return page(request, "oidc_consent.html", _, platform=client.record.name, claims=claims, fields=kept, who=who)


def _switch_student(request: Request, form: Any) -> Response:
    """ "Not you?" on a school's shared computer: sign this student out, and the next one in, then back."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with _engine(request).begin() as conn:
            end_session(conn, token, datetime.now(UTC))
    fields = {k: v for k, v in form.items() if isinstance(v, str) and k not in ("decision", "claim")}
    language = _language(request, fields.get("ui_locales"))
    back = RedirectResponse(f"/app/sign-in?lang={language}", status_code=303)
    back.delete_cookie(SESSION_COOKIE, path="/")
    return_to = "/oidc/authorize?" + urlencode(fields)
    back.set_cookie(OIDC_RETURN_COOKIE, return_to, max_age=900, httponly=True, samesite="lax", path="/")
    return back


@router.get("/authorize", response_model=None)
async def authorize(request: Request) -> Response:
    """Sign the student in (or send them to sign in), then ask their consent or answer with a code."""
    return await run_in_threadpool(_authorize, request, None, None, [])


@router.post("/authorize", response_model=None, dependencies=[Depends(require_same_origin)])
async def authorize_answer(request: Request) -> Response:
    """The consent page's answer: allow (with the claims left ticked) or deny."""
    form = await request.form()
    decision = form.get("decision")
    if decision == "switch":
        return await run_in_threadpool(_switch_student, request, form)
    chosen = [v for v in form.getlist("claim") if isinstance(v, str)]
    if decision not in ("allow", "deny"):
        decision = "deny"
    return await run_in_threadpool(_authorize, request, form, str(decision), chosen)


def _token(request: Request, form: Any) -> Response:
    provider = provider_of(request)
    oauth = oauth2_request(request, form, request.app.state.settings.public_url)
    with _engine(request).begin() as conn, in_transaction(conn):
        answer: Response = provider.create_token_response(oauth)
        if answer.status_code != 200:
            # A wrong secret or a code used twice may be a stolen code being tried: the SIEM hears of it.
            error = json.loads(bytes(answer.body)).get("error", "unknown")
            client_id = extract_basic_authorization(oauth.headers)[0] or oauth.form.get("client_id")
            REFUSALS.labels(f"token_{error}").inc()
            record_security_event(
                Kind.SSO_TOKEN_REFUSED,
                Outcome.REFUSED,
                actor=f"client:{client_id}" if client_id else None,
                target=client_id,
                details={"error": error},
                conn=conn,
            )
    return answer


@router.post("/token", response_model=None)
async def token(request: Request) -> Response:
    """Exchange a code (with its PKCE verifier and the client's secret) for an ID token and an access token."""
    form = await request.form()
    return await run_in_threadpool(_token, request, form)


def _userinfo(request: Request, access_token: str) -> Response:
    with _engine(request).begin() as conn, in_transaction(conn):
        claims = provider_of(request).userinfo(access_token)
    if claims is None:
        REFUSALS.labels("userinfo").inc()
        return JSONResponse(
            {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})


@router.api_route("/userinfo", methods=["GET", "POST"], response_model=None)
async def userinfo(request: Request) -> Response:
    """The agreed claims of the access token's student (``Authorization: Bearer``)."""
    scheme, _sep, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return JSONResponse({"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return await run_in_threadpool(_userinfo, request, value.strip())


def _end_session(request: Request, form: Any) -> Response:
    provider = provider_of(request)
    oauth = oauth2_request(request, form, request.app.state.settings.public_url)
    _ = translator(_language(request, oauth.payload.data.get("ui_locales")))
    now = datetime.now(UTC)
    with _engine(request).begin() as conn, in_transaction(conn, now):
        try:
            ending = provider.validate_endpoint_request("end_session", oauth)
        except OAuth2Error:
            REFUSALS.labels("end_session").inc()
            return _message(request, _, _("This sign-out request is not valid."), status=400)
        if ending.needs_confirmation and request.method == "GET":
            # Without a valid ID token another site could sign the student out: ask first.
            fields = {k: v for k, v in oauth.payload.data.items()}
            return page(request, "oidc_sign_out.html", _, fields=fields)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            end_session(conn, cookie, now)
        answer = provider.create_endpoint_response("end_session", ending)
    if answer is None:
        answer = _message(request, _, _("You have signed out of Mektep Gate."), status=200, title=_("Signed out"))
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


@router.get("/end-session", response_model=None)
async def end_session_page(request: Request) -> Response:
    """RP-initiated logout: sign the student out and go back to the platform (a registered URI only)."""
    return await run_in_threadpool(_end_session, request, None)


@router.post("/end-session", response_model=None, dependencies=[Depends(require_same_origin)])
async def end_session_form(request: Request) -> Response:
    """The sign-out confirmation's answer."""
    form = await request.form()
    return await run_in_threadpool(_end_session, request, form)


def _signed_in_student(request: Request, conn: Connection) -> Student | None:
    session = _session(conn, request, datetime.now(UTC))
    return student_of(conn, session.account_id) if session else None


@router.get("/platforms", response_class=HTMLResponse, response_model=None)
def my_platforms(request: Request) -> Response:
    """A student's own platforms: what each learns, and a button to withdraw."""
    with _engine(request).begin() as conn:
        student = _signed_in_student(request, conn)
        if student is None:
            return RedirectResponse(f"/app/sign-in?lang={page_language(request)}", status_code=303)
        platforms = platforms_of(conn, student.account_id)
    # The language chosen on the sign-in page, else the student's own.
    chosen = request.cookies.get(LANG_COOKIE)
    _ = translator(chosen if chosen in LANGUAGES else student.language)
    labels = {name: _(label) for name, label in CLAIM_LABELS.items()}
    return page(request, "oidc_platforms.html", _, platforms=platforms, labels=labels, home="/oidc/platforms")


@router.post("/platforms/{client_id}/withdraw", dependencies=[Depends(require_same_origin)], response_model=None)
def withdraw_mine(request: Request, client_id: str) -> Response:
    """The student withdraws their consent: the platform will ask again at the next sign-in."""
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        student = _signed_in_student(request, conn)
        if student is None:
            return RedirectResponse("/app/sign-in", status_code=303)
        withdraw(
            conn,
            student.account_id,
            client_id,
            actor=f"account:{student.account_id}",
            school_id=student.school_id,
            now=now,
        )
    return RedirectResponse(f"/oidc/platforms?withdrawn={quote(client_id)}", status_code=303)
