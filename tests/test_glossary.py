"""The catalogs speak the project's glossary (the regulation's Kazakh where it names the thing): the
variants the glossary says to avoid appear in no message, in Kazakh or in Russian."""

from __future__ import annotations

import re

import pytest

from shared.i18n import catalog_messages, catalog_plurals

# (pattern, what to say instead): the glossary's "avoid" column, for the words a message may hold.
AVOID: dict[str, list[tuple[str, str]]] = {
    "kk": [
        (r"қамқоршы", "заңды өкіл (ата-анасы немесе өзге де заңды өкілі), §33-1.1"),
        (r"тіркелгі|аккаунт", "есептік жазба"),
        (r"Күннің мәзірі", "кешенді ас (a set meal may be a breakfast)"),
        (r"кері қайтару", "келісімді кері қайтарып алу (кері қайтару is to hand back)"),
        (r"тамақтану кезеңі", "тамақтану уақыты (кезең is the reporting period, §33-1.9)"),
        (r"ұлулар", "моллюскалар (ұлулар are snails)"),
        (r"балансқа", "баланста (locative)"),
        (r"аллерген тыйымдары", "аллергендерге шектеу, §33-1.7"),
        (r"оқу құрылғысы", "карта оқығыш (оқу reads as studying)"),
        (r"кіші сынып", "бастауыш сынып"),
        (r"ҰББДҚ", "ҰБДҚ"),
        (r"Білім және ғылым министрлігі", "Оқу-ағарту министрлігі"),
        (r"\bәкім\b|әкімшілік", "мектеп әкімшісі (әкім is the akim)"),
        (r"жұмысшы", "қызметкер"),
        (r"шығып кетті", "белсенді емес (it reads as the exit event)"),
        (r"рұқсатпен келмеу", "дәлелді себеппен келмеу"),
        (r"қатысу", "келу-кету (қатысу is attendance at lessons)"),
        (r"(?<!Әлеуметтік )әмиян", "«Әлеуметтік әмиян», always in full"),
        (r"құпиясөз", "құпия сөз, as the regulation writes it (§5.9)"),
        (r"\bIIN\b", "ЖСН"),
        (r"\bNEDB\b|\bНОБД\b", "ҰБДҚ"),
        (r"e-mail", "электрондық пошта"),
        (r"жеңілдікпен(?! тамақтан)", "жеңілдікті (a category is an adjective, §33-1.1)"),
        (r"шықты", "кетті: one word for the exit event, §33-1.10"),
    ],
    "ru": [
        (r"\((л)?а\)", "a wording without the gendered ending (Вход, выдано)"),
        (r"[Уу]ченико-дни", "детодни / человеко-дни"),
        (r"[Кк]омплексный обед", "комплексное питание (a set meal may be a breakfast)"),
        (r"[Зз]апрет(ы)? аллерген|[Зз]апреты", "ограничения по аллергенам, §33-1.7"),
        (r"со скидкой", "льготное"),
        (r"положено", "имеет право"),
        (r"[Пп]одать", "выдать"),
        (r"(?<!Социальный )(?<!Социального )(?<!Социальном )(?<!Социальным )кошел", "«Социальный кошелёк», in full"),
        (r"ОблОНО|\bМОН\b", "управление образования; Министерство просвещения"),
        (r"[Уу]чащи[йе]|[Шш]кольник", "ученик / обучающийся"),
        (r"[Оо]пекун", "законный представитель"),
        (r"аккаунт|\bлог\b", "учётная запись; журнал действий пользователей"),
        (r"\bIIN\b", "ИИН"),
        (r"\bNEDB\b", "НОБД"),
        (r"ID-карт|[Кк]арточк", "идентификационная карта, short: карта"),
        (r"[Пп]рисутствие по", "посещаемость"),
        (r"накормлено|[Нн]акормлен", "получили питание"),
    ],
}


def texts(language: str) -> list[tuple[str, str]]:
    """(msgid, text) of every translated message, plural forms included."""
    found = list(catalog_messages(language).items())  # type: ignore[arg-type]
    for msgid, forms in catalog_plurals(language).items():  # type: ignore[arg-type]
        found += [(msgid, form) for form in forms]
    return found


@pytest.mark.parametrize("language", sorted(AVOID))
def test_no_message_uses_a_word_the_glossary_avoids(language: str) -> None:
    wrong = [
        f"{msgid!r}: {text!r} has {pattern!r}; say {instead}"
        for msgid, text in texts(language)
        for pattern, instead in AVOID[language]
        if re.search(pattern, text, re.IGNORECASE)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_catches_the_words_it_names() -> None:
    # Each pattern must find the very variant the glossary names: a pattern that matches nothing
    # would let it back in unnoticed.
    caught = {
        "kk": ["Аллерген тыйымдары", "Келісімді кері қайтару", "әмиянға жеткізілді", "Мектептен шықты"],
        "ru": ["Пришёл(ла) в школу", "Ученико-дни", "доставлено в кошелёк", "Запрет аллергенов"],
    }
    for language, samples in caught.items():
        for sample in samples:
            assert any(re.search(p, sample, re.IGNORECASE) for p, _ in AVOID[language]), sample
    assert not any(re.search(p, "«Социальный кошелёк»") for p, _ in AVOID["ru"])
    assert not any(re.search(p, "«Әлеуметтік әмиян» жүйесіне") for p, _ in AVOID["kk"])
