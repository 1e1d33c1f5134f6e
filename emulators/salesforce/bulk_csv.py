"""CSV as Bulk API 2.0 reads and writes it: column delimiters, line endings, quoting and locators."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable, Sequence

DELIMITERS = {"COMMA": ",", "BACKQUOTE": "`", "CARET": "^", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
NULL_VALUE = "#N/A"


class CsvFormatError(ValueError):
    """Job data that is not valid CSV for the job's settings; the message is the job's ``errorMessage``."""


def parse_csv(data: bytes, *, delimiter: str, line_ending: str) -> tuple[list[str], list[list[str]]]:
    """Split uploaded job data into its header and rows.

    Args:
        data: the uploaded bytes (UTF-8, an optional byte-order mark is dropped).
        delimiter: the job's ``columnDelimiter`` name (``COMMA``...).
        line_ending: the job's ``lineEnding`` name (``LF`` or ``CRLF``).

    Raises:
        CsvFormatError: undecodable text, a line ending other than the job's, a malformed quote, or
            a row whose number of columns differs from the header's.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"InvalidBatch : Failed to parse CSV: invalid UTF-8 at byte {exc.start}") from exc
    first_line_end = text.find("\n")
    uses_crlf = first_line_end > 0 and text[first_line_end - 1] == "\r"
    if first_line_end >= 0 and uses_crlf != (line_ending == "CRLF"):
        raise CsvFormatError(f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "
                             f"{line_ending}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[delimiter], strict=True)
    try:
        lines = [row for row in reader if row]
    except csv.Error as exc:
        raise CsvFormatError(f"InvalidBatch : Failed to parse CSV. Line {reader.line_num}: {exc}") from exc
    if not lines:
        raise CsvFormatError("InvalidBatch : Failed to parse CSV header: the job data is empty")
    header, rows = lines[0], lines[1:]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise CsvFormatError(f"InvalidBatch : Failed to parse CSV. Row {number} has {len(row)} columns; the "
                                 f"header has {len(header)}")
    return header, rows


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]], *, delimiter: str, line_ending: str,
              quoted_names: int = 0) -> bytes:
    """Result CSV as Salesforce writes it: every value quoted; in the header, the first
    ``quoted_names`` names (``sf__Id``...) quoted and the uploaded column names as uploaded.

    Args:
        header: the column names.
        rows: the values, as text (``""`` for null).
        delimiter: the job's ``columnDelimiter`` name.
        line_ending: the job's ``lineEnding`` name.
        quoted_names: how many leading header names to quote regardless (``len(header)`` to quote all).
    """
    separator = DELIMITERS[delimiter]
    terminator = LINE_ENDINGS[line_ending]
    out = io.StringIO()
    plain = csv.writer(out, delimiter=separator, lineterminator="", quoting=csv.QUOTE_MINIMAL)
    quoted = csv.writer(out, delimiter=separator, lineterminator=terminator, quoting=csv.QUOTE_ALL)
    if quoted_names < len(header):
        if quoted_names:
            out.write(separator.join('"' + name.replace('"', '""') + '"' for name in header[:quoted_names]))
            out.write(separator)
        plain.writerow(header[quoted_names:])
        out.write(terminator)
    else:
        quoted.writerow(header)
    quoted.writerows(rows)
    return out.getvalue().encode("utf-8")


def encode_locator(offset: int) -> str:
    """The ``Sforce-Locator`` of the page starting at ``offset`` (base64 of the number, as Salesforce's are)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int | None:
    """The offset a locator stands for, or ``None`` when it is not one of ours."""
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
