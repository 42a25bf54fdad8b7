"""A school's IT contact receives alerts on their device, in a real browser (headless Chromium through Playwright).

On the office's account page the IT contact chooses English for alerts (the page is in Russian),
presses "Receive alerts on this device": the page's script registers the office's service worker at
/office/, asks for the permission and subscribes with the deployment's VAPID key; the cloud keeps the
device. An alert then opened at their school is pushed by the cloud's own alert worker to the push
simulator, which decrypts it as the device would: in English. The same notice handed to the service
worker is shown as a notification. "Stop" forgets the device. Without JavaScript the section says so,
and that alerts come by e-mail to the account's address. Pages checked by axe-core, kept as
screenshots at 1280 and 768 px in test-artifacts/office-alert-devices/.

Headless Chromium has no push service of its own (``pushManager.subscribe`` needs Google's), so, as
the parent app's tests do, the browser's subscription is the simulator's device: the page's
``PushManager`` answers with that device's endpoint and keys, and everything else is real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import insert, select

from cloud_api.app import create_app
from cloud_api.db.schema import accounts, alerts, notification_settings, schools, staff_push_subscriptions
from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS
from cloud_api.push.keys import load_vapid_key
from cloud_api.push.subscriptions import subscribe_staff_device
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from simulators.push_service import Device, PushServiceServer
from tests.browser import chromium_page, office_page_checked, office_sign_in, screenshot
from tests.cloud_api.helpers import ADMIN

FOLDER = "office-alert-devices"
PASSWORD = "correct horse battery"
LOGIN = "it@s1.kz"
# The page's PushManager answers with the simulator's device (kept in localStorage across pages),
# and notes the key it was asked to subscribe with.
FAKE_PUSH = """
(() => {
  const sub = %s;
  const fake = {endpoint: sub.endpoint, toJSON: () => sub,
    unsubscribe: async () => { localStorage.removeItem("subscribed"); return true; }};
  PushManager.prototype.subscribe = async function (options) {
    localStorage.setItem("subscribed", btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey))));
    return fake;
  };
  PushManager.prototype.getSubscription = async () => (localStorage.getItem("subscribed") ? fake : null);
})();
"""


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str
    service: PushServiceServer


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with PushServiceServer() as service:
        settings = CloudSettings(
            database_url=f"sqlite:///{tmp_path / 'cloud.db'}",
            admin_token=ADMIN,
            push_workers=0,
            alert_interval_s=1.0,  # the cloud's own alert worker tells the alert within a second
            push_service_origins=[*DEFAULT_PUSH_SERVICE_ORIGINS, service.url],  # on 127.0.0.1: listed
        )
        app = create_app(settings)
        with ThreadedServer(lambda: app, "cloud") as server:
            now = datetime.now(UTC)
            with app.state.engine.begin() as conn:
                conn.execute(insert(schools).values(school_id="s1", name="Школа-гимназия № 1", region_id="almaty"))
                account = create_account(conn, LOGIN, actor=SYSTEM, password=PASSWORD)
                grant_role(conn, account.id, Role.SCHOOL_IT, "s1", actor=SYSTEM)
                secret = begin_totp(conn, account.id, LOGIN, now).secret
                confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id=None)
            yield Cloud(server.url, app, secret, service)


def _open_alert(cloud: Cloud) -> None:
    """The gateway's disk is nearly full: an alert opened at s1, still to be told."""
    now = datetime.now(UTC)
    row = {"school_id": "s1", "id": uuid.uuid4(), "rule": "disk_low", "subject": "gw1", "gateway_id": "gw1"}
    with cloud.app.state.engine.begin() as conn:
        conn.execute(
            insert(alerts).values(
                **row, state="open", since=now, opened_at=now, value=0.08, resolved_at=None, tell="opened"
            )
        )


def _stored(cloud: Cloud) -> list[str]:
    with cloud.app.state.engine.connect() as conn:
        return list(conn.execute(select(staff_push_subscriptions.c.endpoint)).scalars())


def _shown_notice(page: Any, url: str, payload: dict[str, Any]) -> list[list[str]]:
    """Hand ``payload`` to the office's service worker as its push service would; the notifications shown."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the worker of /office/ is active
    cdp = page.context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.update({r["scopeURL"]: r["registrationId"] for r in e["registrations"]}),
    )
    cdp.send("ServiceWorker.enable")
    page.wait_for_timeout(200)
    assert f"{url}/office/" in registrations, f"the office's service worker did not register: {registrations}"
    message = {"origin": url, "registrationId": registrations[f"{url}/office/"], "data": json.dumps(payload)}
    cdp.send("ServiceWorker.deliverPushMessage", message)
    # A predicate returning a promise would count as truthy at once: each poll asks for the shown
    # notifications and answers from what the poll before it found (as the parent app's test does).
    return page.wait_for_function(  # type: ignore[no-any-return]
        "() => { navigator.serviceWorker.ready.then(r => r.getNotifications())"
        ".then(ns => { window.shown = ns.map(n => [n.title, n.body]); });"
        " return window.shown && window.shown.length ? window.shown : null; }"
    ).json_value()


def test_the_it_contact_receives_alerts_on_this_device_in_the_language_chosen(cloud: Cloud) -> None:
    phone: Device = cloud.service.state.new_device()
    subscription = phone.subscription(cloud.service.url)
    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024) as page:
        page.context.grant_permissions(["notifications"], origin=cloud.url)
        page.context.add_init_script(FAKE_PUSH % json.dumps(subscription))
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/account")
        section = page.locator("#alerts")
        assert "Тревоги также приходят на электронную почту it@s1.kz." in section.inner_text()
        page.wait_for_selector("#alert-push-state:has-text('Это устройство не получает тревоги.')")
        assert "0 устройств получают тревоги" in section.inner_text()
        office_page_checked(page, FOLDER, "account-before")

        page.get_by_label("Язык тревог").select_option("en")
        page.get_by_role("button", name="Сохранить язык").click()
        page.wait_for_url("**/office/account?saved=alert_language_saved")
        assert "Язык тревог сохранён." in page.inner_text("main")
        assert page.get_by_label("Язык тревог").input_value() == "en"

        page.get_by_role("button", name="Получать тревоги на этом устройстве").click()
        page.wait_for_url("**/office/account?saved=alert_device_on")
        page.wait_for_selector("#alert-push-state:has-text('Это устройство получает тревоги.')")
        assert "Теперь это устройство получает тревоги." in page.inner_text("main")
        assert "1 устройство получает тревоги" in section.inner_text()
        assert section.locator("li [data-this-device]").is_visible()  # "this device" beside it
        office_page_checked(page, FOLDER, "account-subscribed")
        assert _stored(cloud) == [subscription["endpoint"]]
        with cloud.app.state.engine.connect() as conn:
            key = load_vapid_key(conn)
            language = conn.execute(select(notification_settings.c.language)).scalar_one()
        assert key is not None and language == "en"  # the subscription kept the language chosen
        asked_with = page.evaluate("localStorage.getItem('subscribed')")
        assert asked_with.rstrip("=").replace("+", "-").replace("/", "_") == key.public.rstrip("=")

        # An alert opens at the school: the cloud's alert worker pushes it to the device, in English.
        _open_alert(cloud)
        assert cloud.service.state.wait_for(lambda got: len(got) == 1, timeout_s=15), cloud.service.state.refused
        [notice] = cloud.service.state.for_device(phone)
        assert notice["title"] == "Alert at Школа-гимназия № 1: The disk of the gateway is nearly full"
        assert "The gateway gw1 has 8 % of its disk free." in notice["body"]
        assert notice["url"].endswith("/office/schools/s1/fleet")
        # The office's service worker shows that notice on the device.
        assert _shown_notice(page, cloud.url, notice) == [[notice["title"], notice["body"]]]

        page.get_by_role("button", name="Не получать тревоги на этом устройстве").click()
        page.wait_for_url("**/office/account?saved=alert_device_off")
        page.wait_for_selector("#alert-push-state:has-text('Это устройство не получает тревоги.')")
        assert "Тревоги больше не приходят на то устройство." in page.inner_text("main")
        assert "0 устройств получают тревоги" in section.inner_text()
        office_page_checked(page, FOLDER, "account-stopped")
    assert _stored(cloud) == []


def test_without_javascript_alerts_come_by_e_mail_and_foreign_forms_are_refused(cloud: Cloud) -> None:
    # A phone subscribed earlier (Chrome's push service), now lost: stopped from the office PC.
    with cloud.app.state.engine.begin() as conn:
        (account,) = conn.execute(select(accounts.c.id).where(accounts.c.login == LOGIN)).scalars()
        lost = "https://fcm.googleapis.com/fcm/send/lost-phone"
        subscribe_staff_device(conn, account, lost, "BA" + "A" * 85, "A" * 22)
    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024, javascript=False) as page:
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/account")
        text = page.inner_text("#alerts")
        assert "Для тревог на этом устройстве нужен JavaScript." in text
        assert "Тревоги также приходят на электронную почту it@s1.kz." in text
        assert "1 устройство получает тревоги" in text and "Chrome" in text
        assert not page.get_by_role("button", name="Получать тревоги на этом устройстве").is_visible()
        screenshot(page, FOLDER, "account-no-script-768")  # axe needs a script in the page: only the picture
        page.get_by_role("button", name="Не присылать туда тревоги").click()
        page.wait_for_url("**/office/account?saved=alert_device_off")
        assert "0 устройств получают тревоги" in page.inner_text("#alerts")
        assert _stored(cloud) == []
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=cloud.url, cookies=cookies) as client:
        foreign = client.post(
            "/office/account/alert-language", data={"language": "en"}, headers={"Origin": "https://elsewhere.example"}
        )
        assert foreign.status_code == 403
        odd = client.post("/office/account/alert-language", data={"language": "de"}, headers={"Origin": cloud.url})
        assert odd.status_code == 303 and odd.headers["location"].endswith("failed=alert_language_unknown")
        shown = client.get(odd.headers["location"], headers={"Accept-Language": "ru"}).text
        assert "Выберите язык из списка: казахский, русский или английский." in shown
    with cloud.app.state.engine.connect() as conn:
        assert conn.execute(select(notification_settings.c.language)).all() == []  # nothing was kept
