"""The first sheet of an XLSX roster export, read within bounds: no workbook costs more than a roster.

An XLSX file is a zip of XML parts, and both layers can be made to cost far more than they weigh: a
few kilobytes that unpack to gigabytes, a part whose zip header lies about its size, a DTD whose
entities expand, a sheet whose second row is numbered 20,000,000 (openpyxl yields every row missing
before it, and builds a whole ``<row>`` before anyone sees it), a dimension or a row of millions of
cells. So a workbook is read in three steps:

1. the zip's listing, without unpacking anything: how many parts, how much each says it unpacks to,
   how tightly it is packed;
2. every part unpacked as a stream, 64 KiB at a time, which must come to the size its header declares
   with a good CRC; every XML part streams through expat on the way, which refuses a DOCTYPE (and so
   any entity), broken XML, more elements than openpyxl may hold, and in a sheet a row numbered, a
   cell placed or a dimension declared beyond the bounds: at the first element that says so;
3. openpyxl (read-only, row by row) then reads the first sheet, which steps 1 and 2 made small.

A deadline on this thread's CPU time covers all three, checked every 64 KiB and every row: it
measures what the file costs, which a busy server does not lengthen (a wall clock would refuse a
good file because other requests ran meanwhile). The checks run here rather than in a worker process
with resource limits: each refusal keeps its reason (a worker killed by a limit only says it died),
an upload starts no process, and ``mektep roster import`` runs the same code on every system.

Every refusal is a :class:`~cloud_api.roster.nedb.RosterFileError`: ``unreadable_xlsx`` (not a zip
archive, or nothing openpyxl can read), ``xlsx_no_workbook``, ``xlsx_damaged``, ``xlsx_broken_xml``,
``xlsx_dtd``, ``xlsx_too_large``, ``too_many_rows``, ``too_many_columns``, ``xlsx_too_slow``.
"""

from __future__ import annotations

import io
import lzma
import math
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from xml.parsers import expat

from defusedxml import DefusedXmlException
from openpyxl import load_workbook

from cloud_api.roster.nedb import MAX_COLUMNS, MAX_ROWS, RosterFileError

__all__ = [
    "MAX_CPU_SECONDS",
    "MAX_ELEMENTS",
    "MAX_PACKING_RATIO",
    "MAX_PARTS",
    "MAX_UNPACKED_BYTES",
    "xlsx_rows",
]

# The 11-column export of 20,000 rows unpacks to ~12 MB of XML, a wide one (~40 columns) to ~45 MB.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
# A roster's sheet packs ~10 to 1, and so does one with dozens of empty formatted columns; deflate
# cannot pass ~1,030 to 1, which is what a zip bomb uses. A part under 1 MiB is let be whatever its
# ratio: unpacked, it is still small.
MAX_PACKING_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 1024 * 1024
# Excel writes about ten parts; pictures and charts add a few each.
MAX_PARTS = 1_000
# openpyxl holds some parts whole as element trees (~180 bytes an element with lxml), and a crafted
# workbook chooses which: 1,500,000 elements in all, a 20,000-row export of ~20 filled columns, keep
# that under ~300 MB. The 11-column export of 20,000 rows has ~500,000.
MAX_ELEMENTS = 1_500_000
# A start tag is held whole, with all its attributes, before anything can refuse it. No tag of a
# workbook comes near 1 MiB, nor does a cell's text (32,767 characters at most): 1 MiB with no ">"
# in it is a flood of attributes.
MAX_TAG_BYTES = 1024 * 1024
# A 20,000-row roster of the 11 columns reads in ~3 s of CPU (a sixth of it step 2), one of 30 filled
# columns in ~8 s: 20 s leaves room for a slower server, not for a hostile file.
MAX_CPU_SECONDS = 20.0

_CHUNK_BYTES = 64 * 1024
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_ROW, _DIMENSION = f"{_MAIN} row", f"{_MAIN} dimension"  # expat joins namespace and name with a space
_CELL_REF = re.compile(r"\$?([A-Za-z]+)\$?\d+")
_CORNER = re.compile(r"\$?([A-Za-z]*)\$?(\d*)")  # one end of a dimension's range: "A1", "ZZ", "5000000"
# What zipfile raises on an archive, or a part, other than its headers say (a bad CRC, a header that
# points outside the file, a compression method or version it does not know, an encrypted part).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    OSError,
    ValueError,
    struct.error,
)


def xlsx_rows(data: bytes) -> Iterator[Sequence[object]]:
    """The rows of the workbook's first sheet, as values; ``RosterFileError`` when the file is refused."""
    deadline = _Deadline(MAX_CPU_SECONDS)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise RosterFileError("unreadable_xlsx", "not an XLSX workbook (not a zip archive)") from None
    with archive:
        _check_listing(archive)
        budget = _Budget()
        for info in archive.infolist():
            _check_part(archive, info, budget, deadline)
    with _read_by_openpyxl():
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if not book.worksheets:
            raise RosterFileError("empty_file", "the workbook has no sheet")
        sheet = book.worksheets[0]
        # Read the rows the sheet has, not the ones its dimension declares: a dimension smaller than
        # the sheet would cut rows off without a word. Step 2 bounded both.
        sheet.reset_dimensions()  # type: ignore[union-attr]
        rows = sheet.iter_rows(values_only=True)
        while True:
            deadline.check()
            with _read_by_openpyxl():
                row = next(rows, None)
            if row is None:
                return
            yield row
    finally:
        book.close()


class _Deadline:
    """CPU seconds this thread may still spend on the file."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.thread_time() + seconds

    def check(self) -> None:
        if time.thread_time() >= self.at:
            raise RosterFileError("xlsx_too_slow", f"reading the workbook took more than {self.seconds:g} s of CPU")


def _too_large(detail: str) -> RosterFileError:
    return RosterFileError("xlsx_too_large", f"{detail}: is this a roster?")


def _check_listing(archive: zipfile.ZipFile) -> None:
    """Step 1: what the parts declare, before any is unpacked."""
    infos = archive.infolist()
    if len(infos) > MAX_PARTS:
        raise _too_large(f"the workbook has {len(infos)} parts")
    total = 0
    for info in infos:
        if info.file_size > MAX_UNPACKED_BYTES:
            raise _too_large(f"{info.filename} unpacks to {info.file_size} bytes")
        if info.file_size > RATIO_CHECKED_FROM_BYTES and info.file_size > MAX_PACKING_RATIO * info.compress_size:
            raise _too_large(f"{info.filename} packs {info.file_size} bytes into {info.compress_size}")
        total += info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise _too_large(f"the workbook unpacks to {total} bytes")
    if "[Content_Types].xml" not in archive.namelist():
        raise RosterFileError("xlsx_no_workbook", "a zip archive without [Content_Types].xml, not an XLSX workbook")


@contextmanager
def _unpacking(name: str) -> Iterator[None]:
    try:
        yield
    except _ZIP_ERRORS as exc:
        raise RosterFileError("xlsx_damaged", f"{name} does not unpack as its zip header says: {exc}") from None


def _check_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, deadline: _Deadline) -> None:
    """Step 2 for one part: unpack it as a stream, never past its declared size, and check its XML."""
    xml: _XmlPart | None = None
    size = 0
    with _unpacking(info.filename):
        member = archive.open(info)
    with member:
        while True:
            deadline.check()
            with _unpacking(info.filename):
                # zipfile stops at the declared size and checks the CRC there: a part longer than
                # it says fails the CRC, one shorter ends early and is caught below.
                chunk = member.read(_CHUNK_BYTES)
            if not chunk:
                break
            if size == 0 and _looks_like_xml(info.filename, chunk):
                xml = _XmlPart(info.filename, budget)
            size += len(chunk)
            if xml is not None:
                xml.feed(chunk)
    if size != info.file_size:
        raise RosterFileError(
            "xlsx_damaged", f"{info.filename} unpacks to {size} bytes, its header says {info.file_size}"
        )
    if xml is not None:
        xml.close()


def _looks_like_xml(name: str, head: bytes) -> bool:
    # openpyxl finds its parts through the package's relationships, which may give any name: a part
    # is checked as XML when its name or its first bytes say so.
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return name.endswith((".xml", ".rels")) or start.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff"))


class _Budget:
    """What the whole workbook may hold: elements across all its parts."""

    def __init__(self) -> None:
        self.elements = 0


class _XmlPart:
    """One XML part streaming through expat; refuses, at the first element, what openpyxl must not get.

    A part named ``.xml`` or ``.rels`` must be well-formed. Another that only starts like XML (Excel's
    VML drawings are not well-formed, and openpyxl never reads them) is checked as far as it parses:
    openpyxl, which reads XML with the same kind of parser, cannot read further either.
    """

    def __init__(self, name: str, budget: _Budget) -> None:
        self.name = name
        self.strict = name.endswith((".xml", ".rels"))
        self.budget = budget
        self.parser: expat.XMLParserType | None = expat.ParserCreate(namespace_separator=" ")
        # An XLSX part never has a DTD, and an entity can only be declared in one: refusing the
        # DOCTYPE refuses every entity before expat expands any.
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        # One entry per open element: a row's last column (openpyxl takes each child of a <row> for
        # a cell, whatever its name), None for any other element.
        self.open: list[list[int] | None] = []
        self.row = 0  # the last row's number
        self.rows = 0
        self.since_tag = 0  # bytes since the last ">"

    def feed(self, chunk: bytes) -> None:
        end = chunk.rfind(b">")
        self.since_tag = len(chunk) - end - 1 if end >= 0 else self.since_tag + len(chunk)
        if self.since_tag > MAX_TAG_BYTES:
            raise _too_large(f"{self.name} has a tag of more than {MAX_TAG_BYTES} bytes")
        self._parse(chunk, final=False)

    def close(self) -> None:
        self._parse(b"", final=True)

    def _parse(self, chunk: bytes, *, final: bool) -> None:
        if self.parser is None:
            return
        try:
            self.parser.Parse(chunk, final)
        except expat.ExpatError as exc:
            if self.strict:
                raise RosterFileError("xlsx_broken_xml", f"{self.name} is not well-formed XML: {exc}") from None
            self.parser = None

    def _doctype(self, *_: object) -> None:
        raise RosterFileError("xlsx_dtd", f"{self.name} declares a DOCTYPE: an XLSX part never has one")

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self.budget.elements += 1
        if self.budget.elements > MAX_ELEMENTS:
            raise _too_large(f"the workbook has more than {MAX_ELEMENTS} XML elements")
        row = self.open[-1] if self.open else None
        if row is not None:
            row[0] = self._cell(attrs.get("r"), row[0])
        if tag == _ROW:
            self._row(attrs.get("r"))
            self.open.append([0])
            return
        if tag == _DIMENSION:
            self._dimension(attrs.get("ref", ""))
        self.open.append(None)

    def _end(self, _tag: str) -> None:
        self.open.pop()

    def _row(self, number: str | None) -> None:
        self.rows += 1
        self.row = self.row + 1 if number is None else self._row_number(number)
        if self.row > MAX_ROWS + 1 or self.rows > MAX_ROWS + 1:
            raise RosterFileError(
                "too_many_rows", f"{self.name}: row {self.row}; a roster has a header and {MAX_ROWS} rows"
            )

    def _row_number(self, text: str) -> int:
        try:
            value = float(text)  # as openpyxl reads it: "20000000", and "2e7" too
        except ValueError:
            value = math.nan
        if not value.is_integer():
            raise RosterFileError("unreadable_xlsx", f"{self.name}: row number {text[:20]!r}")
        if value > MAX_ROWS + 1:
            raise RosterFileError(
                "too_many_rows", f"{self.name}: row {text[:20]}; a roster has a header and {MAX_ROWS} rows"
            )
        return int(value)

    def _cell(self, ref: str | None, previous: int) -> int:
        if ref is None:
            column = previous + 1
        else:
            match = _CELL_REF.fullmatch(ref)
            if match is None:
                raise RosterFileError("unreadable_xlsx", f"{self.name}: cell reference {ref[:20]!r}")
            column = _column_number(match[1])
        if column > MAX_COLUMNS:
            raise RosterFileError(
                "too_many_columns", f"{self.name}: a cell in column {column}; a roster has {MAX_COLUMNS} at most"
            )
        return column

    def _dimension(self, ref: str) -> None:
        # The sheet's own statement of its size, near its start: refused before any row is read.
        for corner in ref.split(":"):
            match = _CORNER.fullmatch(corner.strip())
            if match is None:
                continue  # openpyxl refuses it when it opens the sheet
            letters, digits = match.groups()
            if digits and (len(digits) > 9 or int(digits) > MAX_ROWS + 1):
                raise RosterFileError("too_many_rows", f"{self.name} declares the dimension {ref[:40]!r}")
            if letters and _column_number(letters) > MAX_COLUMNS:
                raise RosterFileError("too_many_columns", f"{self.name} declares the dimension {ref[:40]!r}")


def _column_number(letters: str) -> int:
    if len(letters) > 3:
        return 16_385  # beyond XFD, Excel's last column
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


@contextmanager
def _read_by_openpyxl() -> Iterator[None]:
    """openpyxl's failures on a checked workbook, as refusals: a file is never answered with a 500."""
    try:
        yield
    except RosterFileError:
        raise
    except (KeyError, OSError) as exc:  # a part the package names is not in the zip
        raise RosterFileError("xlsx_no_workbook", f"a part of the workbook is missing: {exc}") from None
    except Exception as exc:
        # Step 2 refused the DTDs and the broken XML openpyxl could meet; what is left is whatever a
        # crafted value makes its code raise (ValueError, TypeError, IndexError…), all of it unreadable.
        cause = exc.__cause__ or exc
        if isinstance(cause, DefusedXmlException):
            raise RosterFileError("xlsx_dtd", f"the workbook declares XML entities: {cause}") from None
        if isinstance(cause, SyntaxError):  # ElementTree's ParseError, lxml's XMLSyntaxError
            raise RosterFileError("xlsx_broken_xml", f"the workbook holds broken XML: {cause}") from None
        raise RosterFileError("unreadable_xlsx", f"openpyxl cannot read the workbook: {exc}") from None
