"""The office's names for the codes it shows (a card's state, a journal entry's kind, ...), in the reader's language.

Each code a page shows is named here once, so that every page says it in the same words, and the
catalogs hold a plain phrase for each (never a code glued to a prefix).
"""

from __future__ import annotations

from shared.i18n import Translator

__all__ = ["Words"]


class Words:
    """Names of codes, each a dict code → words; an unknown code is shown as it is."""

    def __init__(self, _: Translator) -> None:
        self.person_role = {"student": _("Pupil"), "staff": _("Staff member"), "guardian": _("Parent or guardian")}
        self.card_state = {"active": _("in use"), "blocked": _("blocked"), "replaced": _("replaced")}
        self.block_reason = {
            "lost": _("lost"),
            "stolen": _("stolen"),
            "damaged": _("damaged"),
            "other": _("other reason"),
        }
        self.credential = {
            "em4100": _("EM4100 card"),
            "wiegand": _("Wiegand card"),
            "osdp": _("OSDP card"),
            "mqtt_card": _("canteen terminal card"),
            "qr": _("QR code"),
            "manual": _("entered by hand"),
        }
        self.event = {
            "entry": _("entry"),
            "exit": _("exit"),
            "meal": _("meal"),
            "denied": _("refused"),
            "device_status": _("reader state"),
        }
        self.device_state = {"online": _("online"), "offline": _("offline"), "error": _("error")}
        self.action = {"create": _("added"), "update": _("changed"), "delete": _("removed"), "use": _("used")}
        self.record = {
            "person": _("person"),
            "guardianship": _("guardian and child"),
            "credential": _("card"),
            "consent": _("consent"),
            "person_photo": _("photo"),
            "allergen_bans": _("allergen bans"),
            "account": _("account"),
            "role": _("role"),
            "roster_import": _("roster import"),
            "export": _("export of the school"),
            "canteen_pin": _("canteen PIN"),
            "daily_limit": _("daily limit"),
            "low_balance_threshold": _("low-balance notice threshold"),
            "balance_entry": _("balance"),
            "meal_rating": _("meal rating"),
            "wallet_record": _("record for the Social Wallet"),
            "dish": _("dish"),
            "meal_rules": _("meal rules"),
            "set_meal": _("set meal of a day"),
        }
        self.dish_category = {
            "main": _("main dish"),
            "drink": _("drink"),
            "pastry": _("pastry"),
            "sweets": _("sweets"),
            "fruit": _("fruit"),
        }
        self.allergen = {
            "gluten": _("gluten"),
            "crustaceans": _("crustaceans"),
            "eggs": _("eggs"),
            "fish": _("fish"),
            "peanuts": _("peanuts"),
            "soybeans": _("soybeans"),
            "milk": _("milk"),
            "nuts": _("nuts"),
            "celery": _("celery"),
            "mustard": _("mustard"),
            "sesame": _("sesame"),
            "sulphites": _("sulphites"),
            "lupin": _("lupin"),
            "molluscs": _("molluscs"),
        }
        self.report = {"meals": _("Meals report"), "attendance": _("Attendance report")}
        self.sign_in_failure = {
            "bad_password": _("wrong password"),
            "unknown_login": _("unknown login"),
            "locked": _("locked after failures"),
            "client_throttled": _("too many tries from one address"),
            "inactive": _("account disabled"),
            "no_password": _("no password chosen yet"),
            "bad_code": _("wrong code of the second factor"),
        }
