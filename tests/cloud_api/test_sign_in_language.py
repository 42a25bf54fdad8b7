"""Which language the sign-in page speaks (issue 21): the one picked on it, else the reader's kept choice
(the language cookie), else the browser's Accept-Language; a sign-out keeps the language the parent was
reading in; every language switch names the languages in their own words."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cloud_api.web.pages import LANG_COOKIE
from tests.cloud_api.school import PASSWORD, World

# The database plays no part in a page's language: SQLite is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MOTHER_LOGIN = "+77012345678"


def _language(html: str) -> str:
    found = re.search(r'<html lang="(\w+)">', html)
    assert found, html[:200]
    return found[1]


def test_picked_beats_the_cookie_which_beats_the_browser(client: TestClient) -> None:
    russian_browser = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}
    assert _language(client.get("/app/sign-in", headers=russian_browser).text) == "ru"
    assert _language(client.get("/app/sign-in", headers={"Accept-Language": "fr-FR"}).text) == "kk"

    # English picked on the page: kept in the cookie, which then wins over the browser's Russian.
    assert _language(client.get("/app/sign-in?lang=en", headers=russian_browser).text) == "en"
    assert client.cookies[LANG_COOKIE] == "en"
    assert _language(client.get("/app/sign-in", headers=russian_browser).text) == "en"

    picked = client.get("/app/sign-in?lang=kk", headers=russian_browser)
    assert _language(picked.text) == "kk" and "<h1>Кіру</h1>" in picked.text
    # Picked over the kept English, and kept in its place: the next sign-in page is still in it.
    assert client.cookies[LANG_COOKIE] == "kk"
    assert _language(client.get("/app/sign-in", headers=russian_browser).text) == "kk"
    assert _language(client.get("/app/sign-in?lang=xx", headers=russian_browser).text) == "kk"


def test_after_sign_out_the_sign_in_page_speaks_the_language_the_parent_read_in(world: World) -> None:
    client = world.client
    kazakh_phone = {"Accept-Language": "kk-KZ"}
    client.headers.update(kazakh_phone)
    signed_in = client.post("/app/sign-in", data={"login": MOTHER_LOGIN, "password": PASSWORD, "lang": "kk"})
    assert _language(signed_in.text) == "kk"
    # She reads the app in Russian from now on.
    client.post("/app/settings", data={"language": "ru", "entries": "true"})
    home = client.get("/app/")
    assert _language(home.text) == "ru"
    assert '<input type="hidden" name="lang" value="ru">' in home.text  # the sign-out form says so

    out = client.post("/app/sign-out", data={"lang": "ru"}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/app/sign-in"
    assert client.cookies[LANG_COOKIE] == "ru"
    page = client.get("/app/sign-in")
    assert _language(page.text) == "ru" and "<h1>Войти</h1>" in page.text
    assert client.get("/app/", follow_redirects=False).status_code == 303  # and she is signed out

    # A sign-out without the field (an old page) keeps the cookie as it was.
    client.post("/app/sign-in", data={"login": MOTHER_LOGIN, "password": PASSWORD, "lang": "en"})
    client.post("/app/sign-out")
    assert _language(client.get("/app/sign-in").text) == "en"


def test_every_language_switch_names_the_languages_in_their_own_words(client: TestClient) -> None:
    for path in ("/app/sign-in", "/office/sign-in", "/app/activate"):
        page = client.get(path, headers={"Accept-Language": "ru"}).text
        switch = re.search(r'<span class="languages">(.*?)</span>', page)
        assert switch, path
        shown = re.findall(r">([^<>]+)</(?:a|strong)>", switch[1])
        assert shown == ["Қазақша", "Русский", "English"], path
        assert '<strong lang="ru" aria-current="true">Русский</strong>' in switch[1], path
        assert 'hreflang="kk"' in switch[1] and 'lang=kk"' in switch[1], path
