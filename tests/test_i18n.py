"""Every catalog has every message, and every message the code marks or codes it shows is in them."""

from __future__ import annotations

import re
from pathlib import Path

from cloud_api.roster.iin import IinProblem
from gateway.taps.policy import Reason
from shared.i18n import LANGUAGES, catalog_messages
from shared.roster_contract import Allergen, DishCategory

ROOT = Path(__file__).resolve().parents[1]
MARKED = re.compile(r"""(?<![`\w])_\(\s*["']([^"'…]+)["']""")
RAISED_CODES = re.compile(r'DomainError\(\s*"(\w+)"')
# Codes given straight to an HTTP answer or a whole-file refusal: coded_error(422, "missing_columns", …).
SHOWN_CODES = re.compile(r'RosterFileError\(\s*"(\w+)"')
ROSTER_CODES = re.compile(r'bad\(\s*[\w"]+,\s*"(\w+)"\)|RowProblem\([^,]+,\s*"\w+",\s*"(\w+)"')


def test_catalogs_have_the_same_messages() -> None:
    ids = [set(catalog_messages(lang)) for lang in LANGUAGES]
    assert ids[0] == ids[1] == ids[2]


def test_every_marked_message_and_shown_code_is_translated() -> None:
    wanted: set[str] = set()
    for package in ("gateway", "cloud_api", "mektep", "device_drivers"):
        for path in [*(ROOT / package).rglob("*.py"), *(ROOT / package).rglob("*.html")]:
            text = path.read_text(encoding="utf-8")
            wanted |= set(MARKED.findall(text))
            if path.parent.name == "roster" or path.name == "roster_import.py":
                wanted |= {code for pair in ROSTER_CODES.findall(text) for code in pair if code}
            wanted |= set(RAISED_CODES.findall(text))
            wanted |= set(SHOWN_CODES.findall(text))
    wanted |= {r.value for r in Reason if r is not Reason.MANUAL and r is not Reason.DEVICE_STATUS}
    wanted |= {p.value for p in IinProblem}
    wanted |= {a.value for a in Allergen}  # named to a child whose meal holds one
    wanted |= {c.value for c in DishCategory}  # so is a kind of dish the guardian forbids
    for lang in LANGUAGES:
        missing = wanted - set(catalog_messages(lang))
        assert not missing, f"{lang}: {sorted(missing)}"
