"""XLSX workbooks made by hand with zipfile, good and hostile: the few parts Excel needs, one sheet.

:func:`workbook` builds a package whose first sheet is the XML given; :func:`sheet_xml` writes that
XML from rows (each cell an inline string, row numbers and a dimension as asked);
:func:`lying_about_size` patches a part's declared size in both zip headers.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape

__all__ = ["SHEET", "lying_about_size", "sheet_xml", "workbook"]

SHEET = "xl/worksheets/sheet1.xml"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/{SHEET}"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
_ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="{_PACKAGE_REL}">
<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = f"""<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="{MAIN}" xmlns:r="{_REL}"><sheets><sheet name="NEDB" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="{_PACKAGE_REL}">
<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""


def _column(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def sheet_xml(
    rows: Sequence[Sequence[object]],
    *,
    numbers: Sequence[int] | None = None,
    dimension: str | None = None,
    prolog: str = "",
) -> str:
    """A worksheet of ``rows`` (numbered 1, 2, … unless ``numbers`` says), each cell an inline string."""
    numbers = numbers or range(1, len(rows) + 1)
    body = "".join(
        f'<row r="{number}">'
        + "".join(
            f'<c r="{_column(i)}{number}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'
            for i, value in enumerate(row, start=1)
            if value not in ("", None)
        )
        + "</row>"
        for number, row in zip(numbers, rows, strict=True)
    )
    dimension_xml = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<worksheet xmlns="{MAIN}">{dimension_xml}<sheetData>{body}</sheetData></worksheet>'
    )


def workbook(sheet: str, **parts: bytes | str | None) -> bytes:
    """The package around ``sheet``, the first sheet's XML; ``parts`` add or replace parts by their path,
    and ``None`` leaves one out: ``workbook(xml, **{"xl/workbook.xml": None})``."""
    files: dict[str, bytes | str | None] = {
        "[Content_Types].xml": _CONTENT_TYPES,
        "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": _WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        SHEET: sheet,
        **parts,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            if content is not None:
                archive.writestr(name, content)
    return out.getvalue()


def lying_about_size(data: bytes, name: str, declared: int) -> bytes:
    """``data`` with the part ``name`` declaring ``declared`` bytes unpacked, in its local and central headers."""
    patched = bytearray(data)
    encoded = name.encode()
    # local file header: the uncompressed size at offset 22, the name at 30
    local = data.index(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(encoded)] != encoded:
        local = data.index(b"PK\x03\x04", local + 4)
    patched[local + 22 : local + 26] = struct.pack("<I", declared)
    # central directory header: the uncompressed size at offset 24, the name at 46
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(encoded)] != encoded:
        central = data.index(b"PK\x01\x02", central + 4)
    patched[central + 24 : central + 28] = struct.pack("<I", declared)
    return bytes(patched)
