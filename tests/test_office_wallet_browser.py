"""A school administrator settles the Social Wallet's refusals in a real browser (headless Chromium, Playwright).

The child's IIN in the roster has a digit wrong (a valid number, just not hers): the simulated
Wallet first does not answer (the page says since when), then refuses her two meals as an unknown
student. The administrator reads the refusal in Russian with what to do, corrects the IIN (a
mistyped correction is refused beside the field), checks and confirms sending both records again,
the sender runs, and the Wallet accepts them: the refused list is empty and the табель matches.
Every state is kept as a screenshot at 1280×800 and 768×1024 in test-artifacts/office-wallet/,
checked by axe-core, and must not scroll sideways at 768 px.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.background.http import RetryPolicy
from cloud_api.db.schema import iin_indexes, people, wallet_outbox
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, create_school_admin
from cloud_api.services.gateways import register_gateway
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from cloud_api.social_wallet.sender import send_pending
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ
from simulators.http_server import ThreadedServer
from simulators.social_wallet import WalletServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, iin

FOLDER = "office-wallet"
LOGIN = "secretary@s1.kz"
PASSWORD = "correct horse battery"
RIGHT_IIN = iin("15031950020")  # the number on her birth certificate
QUICK = RetryPolicy(initial_s=0.01, max_s=0.01, attempts=1, jitter=lambda: 1.0)


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str
    child: Any


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM)
            account = create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
            child = conn.execute(
                select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, CHILD)))
            ).scalar_one()
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
        yield Cloud(server.url, app, secret, child)


def _meals(cloud: Cloud) -> None:
    """Today's breakfast and lunch of the child, both free, as the canteen's gateway reports them."""
    now = datetime.now(LOCAL_TZ)
    at = [max(now - timedelta(minutes=m), now.replace(hour=0, minute=0, second=m)) for m in (30, 2)]
    events = [
        event(
            n + 1,
            kind="meal",
            person_id=str(cloud.child),
            reason="on_roster",
            meal={"period": period, "category": "free", "dishes": ["Ботқа"], "price_tiyn": 0},
            at=when.isoformat(),
        )
        for n, (period, when) in enumerate(zip(("breakfast", "lunch"), at, strict=True))
    ]
    body = batch_body(events)
    answer = httpx.post(f"{cloud.url}{INGEST_PATH}", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text


def _send(cloud: Cloud, wallet: WalletServer) -> Any:
    """One round of the sender, as the background worker runs it."""

    async def round_() -> Any:
        async with httpx.AsyncClient(base_url=wallet.url, timeout=5.0) as client:
            return await send_pending(cloud.app.state.engine, client, public_key=wallet.public_key, policy=QUICK)

    # Playwright's own loop runs in this thread: the round runs in another, as the worker would.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, round_()).result()


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def test_an_admin_corrects_a_refused_iin_and_the_wallet_accepts_the_meals(cloud: Cloud) -> None:
    _meals(cloud)
    with WalletServer() as wallet, chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        wallet.fail(10)
        assert _send(cloud, wallet).retry == 2  # the Wallet does not answer: the meals wait
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)

        # The Wallet is silent: the status panel says since when, and that nothing is lost.
        page.get_by_role("link", name="«Социальный кошелёк»").first.click()
        page.wait_for_url("**/wallet")
        state = page.locator(".wallet-state").inner_text()
        assert "«Социальный кошелёк» не отвечает с" in state and "ничего не потеряно" in state
        _checked(page, "01-wallet-down")

        # It answers again, and refuses both meals: the IIN it got is nobody's.
        wallet.fail(0)
        wallet.reject(lambda r: r.student_iin == CHILD, "unknown_student", "ИИН не найден в реестре")
        assert _send(cloud, wallet).rejected == 2
        page.reload()
        refusal = page.locator("article.refusal")
        assert "Нұрланова Әлия" in refusal.inner_text()
        assert "В «Социальном кошельке» нет ученика с этим ИИН." in refusal.inner_text()
        assert "Сверьте ИИН ученика со свидетельством о рождении" in refusal.inner_text()
        assert "не отвечает" not in page.locator(".wallet-state").inner_text()
        assert page.locator("table.tabel tr.diff").count() == 1  # her day: two served, none confirmed
        _checked(page, "02-refused")
        # the same in Kazakh, in the glossary's words
        page.get_by_role("link", name="Қазақша").click()
        page.wait_for_load_state()
        assert "«Әлеуметтік әмиян» жүйесінде бұл ЖСН-мен оқушы жоқ" in page.locator("article.refusal").inner_text()
        _checked(page, "02-refused-kk")
        page.get_by_role("link", name="Русский").click()
        page.wait_for_load_state()
        refusal = page.locator("article.refusal")

        # The IIN, corrected: first with a digit wrong (refused beside the field), then right.
        refusal.get_by_role("link", name="Исправить ИИН").click()
        page.get_by_label("ИИН", exact=True).fill(RIGHT_IIN[:11] + str((int(RIGHT_IIN[11]) + 1) % 10))
        page.get_by_role("button", name="Сохранить ИИН").click()
        assert "онтрольная цифра ИИН" in page.locator(".field-error").inner_text()
        _checked(page, "03-iin-refused")
        page.get_by_label("ИИН", exact=True).fill(RIGHT_IIN)
        page.get_by_role("button", name="Сохранить ИИН").click()
        page.wait_for_url("**/wallet?done=iin_corrected#refused")
        assert "ИИН исправлен" in page.locator(".flash").inner_text()
        assert RIGHT_IIN in page.locator("article.refusal").inner_text()
        _checked(page, "04-iin-corrected")

        # Both records again, after a look at what will go.
        page.get_by_role("link", name="Отправить все 2 записи ещё раз").click()
        assert RIGHT_IIN in page.locator("form.confirm").inner_text()
        _checked(page, "05-confirm")
        page.get_by_role("button", name="Отправить все 2 записи ещё раз").click()
        page.wait_for_url("**/wallet?done=wallet_resent_all#refused")
        assert "2" in page.locator(".wallet-state .figure").first.inner_text()  # waiting to be sent
        _checked(page, "06-sent-again")

        # The sender's round: the Wallet accepts them under the corrected IIN.
        assert _send(cloud, wallet).delivered == 2
        assert {r.student_iin for r in wallet.state.accepted.values()} == {RIGHT_IIN}
        page.goto(f"{cloud.url}/office/schools/s1/wallet")
        assert "ничего не отклонил" in page.locator("#refused").inner_text()
        assert page.locator("table.tabel tr.diff").count() == 0
        assert "совпадает" in page.locator("table.tabel").inner_text()
        assert "последняя квитанция" in page.locator(".wallet-state").inner_text()
        _checked(page, "07-accepted")
    with cloud.app.state.engine.connect() as conn:
        assert {r.status for r in conn.execute(select(wallet_outbox.c.status))} == {"delivered"}
