"""Reading import files: bytes to text (UTF-8, BOM, line numbers), CSV records (repeated columns, stray quotes,
size limits) and JSON items (duplicate fields, line numbers, size limits), each as a `RawRow` of the format's fields.

Nothing here knows about the database; `stories.importing` converts and checks the rows.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from stories.importing.formats import FORMATS, REPEATABLE, Format, detect_csv, detect_json, normalise_header

MAX_FIELD_CHARS = 100_000  # one field's text, CSV and JSON alike
_READ_BYTES = 1 << 16
_BOM = b"\xef\xbb\xbf"
# A cell that looks like a story key: SHOP-12, or a bare number (Azure DevOps, GitHub).
_KEY_LIKE = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9_]*-\d+|\d+)\s*$")


class ImportFailed(Exception):
    """The file was not imported (nothing was written). `errors` holds the first problems, `total` counts them all."""

    def __init__(self, errors: list[str], total: int | None = None):
        self.errors = list(errors)
        self.total = len(self.errors) if total is None else total
        super().__init__(self.message)

    @property
    def message(self) -> str:
        lines = list(self.errors)
        if self.total > len(self.errors):
            lines.append(f"… and {self.total - len(self.errors)} more")
        return "\n".join(lines)


def too_long(size: int) -> str:
    return f"is {size:,} characters long; one field holds at most {MAX_FIELD_CHARS:,}"


def _text_chunks(stream: IO, name: str) -> Iterator[str]:
    """Decode a stream as UTF-8 piece by piece (a leading BOM is dropped); fail with the byte offset, never guess."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes handed to the decoder so far
    newlines = 0
    first = True
    while True:
        chunk = stream.read(_READ_BYTES)
        eof = not chunk
        if isinstance(chunk, str):  # a text stream (e.g. io.StringIO) is already decoded
            if first and chunk.startswith("\ufeff"):
                chunk = chunk[1:]
            first = False
            if eof:
                return
            yield chunk
            continue
        if first:
            first = False
            if chunk.startswith(_BOM):
                chunk, offset = chunk[len(_BOM) :], len(_BOM)
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final=eof)
        except UnicodeDecodeError as error:
            data = pending + chunk
            position = offset - len(pending) + error.start
            line = newlines + data[: error.start].count(b"\n") + 1
            raise ImportFailed(
                [
                    f"{name}, line {line}: the file is not UTF-8 text (byte 0x{data[error.start]:02X} at byte offset "
                    f"{position} cannot be read); save it as UTF-8 (in Excel: “CSV UTF-8”) and import it again"
                ]
            ) from None
        offset += len(chunk)
        newlines += text.count("\n")
        if text:
            yield text
        if eof:
            return


_EOL = re.compile(r"\r\n|\r|\n")


def _physical_lines(chunks: Iterable[str], record: list[str]) -> Iterator[str]:
    """Lines with their endings, one per physical line, so the csv module's line_num is the file's line number.
    Each line is also appended to `record`, which the reader empties after each row (to look inside a row that
    spans lines)."""
    rest = ""
    for text in chunks:
        text = rest + text if rest else text
        start = 0
        for match in _EOL.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                break  # maybe the first half of a \r\n split across chunks
            line = text[start : match.end()]
            record.append(line)
            yield line
            start = match.end()
        rest = text[start:]
    if rest:
        record.append(rest)
        yield rest


@dataclass
class RawRow:
    """One story as found in the file, before any checks, with what is needed to point at it in a message."""

    location: str  # "stories.csv, line 14"
    short: str  # "line 14", used when another row refers to this one
    values: dict[str, Any]
    columns: dict[str, str]  # field -> the column or field name as written in the file
    word: str  # "column" or "field"
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # found while reading: (field, problem)

    def error(self, field_name: str | None, problem: str) -> str:
        if field_name is None or field_name not in self.columns:
            return f"{self.location}: {problem}"
        return f'{self.location}, {self.word} "{self.columns[field_name]}": {problem}'


def read_rows(stream: IO, name: str, fmt: str) -> tuple[Format, Iterator[RawRow]]:
    """The file's format (`fmt`, or recognised when "auto") and its rows. Problems with the whole file (not text, no
    header, malformed JSON) raise ImportFailed; a row's problems travel on the row."""
    if fmt == "auto":
        kind = _sniff_kind(stream, name)
        forced = None
    else:
        forced = FORMATS[fmt]
        kind = forced.kind
    if kind == "csv":
        return _csv_rows(stream, name, forced)
    return _json_rows(stream, name, forced)


def _sniff_kind(stream: IO, name: str) -> str:
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix in ("csv", "tsv", "txt"):
        return "csv"
    if suffix == "json":
        return "json"
    start = stream.read(4096)
    stream.seek(0)
    if isinstance(start, bytes):
        start = start.removeprefix(_BOM).decode("utf-8", "replace")
    return "json" if start.lstrip().lstrip("\ufeff")[:1] in ("[", "{") else "csv"


# --- CSV ------------------------------------------------------------------------------------------------------------


def _csv_rows(stream: IO, name: str, forced: Format | None) -> tuple[Format, Iterator[RawRow]]:
    chunks = _text_chunks(stream, name)
    first = next(chunks, "")
    header_line = next((line for line in first.splitlines() if line.strip()), "")
    # Excel in many locales saves CSV with semicolons; pick the separator the header row uses most.
    delimiter = max((",", ";", "\t"), key=header_line.count)
    record: list[str] = []
    reader = csv.reader(_physical_lines(_chain(first, chunks), record), delimiter=delimiter, strict=True)
    line = 0
    header: list[str] | None = None
    try:
        for cells in reader:
            line, start = reader.line_num, line + 1
            record.clear()
            if any(cell.strip() for cell in cells):
                header = cells
                break
    except csv.Error as error:
        raise ImportFailed([f"{name}, line {reader.line_num}: the CSV is malformed ({error})"]) from None
    if header is None:
        raise ImportFailed([f"{name} is empty: expected a header row such as key,title,acceptance_criteria"])
    fmt = forced or detect_csv(header)
    columns = _map_header(header, fmt, name, start)
    return fmt, _csv_records(reader, record, header, columns, name, delimiter, line)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_records(reader, record: list[str], header, columns, name, delimiter, line) -> Iterator[RawRow]:
    display = {f: header[indexes[0]].strip() for f, indexes in columns.items()}
    key_index = columns["key"][0]
    guards = [columns[f][0] for f in ("key", "title")]
    start = line + 1
    try:
        for cells in reader:
            start, end = line + 1, reader.line_num
            line = end
            inner, record[:] = record[1:], []
            if not any(cell.strip() for cell in cells):
                continue
            where, short = f"{name}, line {start}", f"line {start}"
            if end > start and _merges_rows(cells, inner, guards, key_index, len(header), delimiter):
                problem = f"a quote opened here is closed only on line {end} — rows in between would be merged"
                yield RawRow(where, short, {}, display, "column", [(None, problem)])
                continue
            extra = [c for c in cells[len(header) :] if c.strip()]
            if extra:
                problem = (
                    f"the row has {len(cells)} cells but the header has {len(header)} columns "
                    "(is a comma inside a cell missing its quotes?)"
                )
                yield RawRow(where, short, {}, display, "column", [(None, problem)])
                continue
            values: dict[str, Any] = {}
            problems: list[tuple[str | None, str]] = []
            for field_name, indexes in columns.items():
                found = [cells[i] for i in indexes if i < len(cells)]
                for cell in found:
                    if len(cell) > MAX_FIELD_CHARS:
                        problems.append((field_name, too_long(len(cell))))
                if field_name in REPEATABLE:
                    values[field_name] = found
                elif len(found) > 1:  # a repeated column (Jira's custom fields): its non-empty values, once each
                    values[field_name] = "\n\n".join(dict.fromkeys(c.strip() for c in found if c.strip()))
                else:
                    values[field_name] = found[0] if found else ""
            yield RawRow(where, short, values, display, "column", problems)
    except csv.Error as error:
        message = str(error)
        start = line + 1  # where the row that failed began
        if "unexpected end of data" in message:
            problem = f"line {start}: a quote opened here is never closed — every row after it would be merged"
        elif "field larger than field limit" in message:
            problem = f"line {start}: a field is longer than {MAX_FIELD_CHARS:,} characters (is a quote not closed?)"
        else:
            problem = f"line {reader.line_num}: the CSV is malformed ({error})"
        raise ImportFailed([f"{name}, {problem}"]) from None


def _merges_rows(cells, inner: list[str], guards, key_index, width: int, delimiter: str) -> bool:
    """Does this row, which spans several lines, swallow other rows (a quote opened and closed far apart)?

    Yes if its key or title holds a line break (no tracker writes one there), or if a line inside it reads as a row
    of its own: as many cells as the header and a key where the key goes."""
    if any(i < len(cells) and ("\n" in cells[i] or "\r" in cells[i]) for i in guards):
        return True
    for text in inner:
        if text.count(delimiter) < width - 1:
            continue  # cheap: most lines inside a cell are prose
        parsed = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), [])
        if len(parsed) >= width and key_index < len(parsed) and _KEY_LIKE.match(parsed[key_index]):
            return True
    return False


def _map_header(header: list[str], fmt: Format, name: str, line: int) -> dict[str, list[int]]:
    aliases = fmt.alias_map()
    columns: dict[str, list[int]] = {}
    spelled: dict[str, str] = {}
    problems = []
    for index, title in enumerate(header):
        normal = normalise_header(title)
        field_name = aliases.get(normal)
        if field_name is None:
            continue  # Jira exports carry dozens of columns we have no use for
        if field_name in columns:
            same_name = spelled[field_name] == normal
            if not (field_name in REPEATABLE or (fmt.merge_repeated and same_name)):
                problems.append(
                    f'{name}, line {line}: columns "{header[columns[field_name][0]].strip()}" and "{title.strip()}" '
                    f"both give the {field_name.replace('_', ' ')}; keep one"
                )
        spelled.setdefault(field_name, normal)
        columns.setdefault(field_name, []).append(index)
    for required in ("key", "title"):
        if required not in columns:
            found = ", ".join(f'"{h.strip()}"' for h in header if h.strip())
            if fmt.name == "csv":
                jira = "Issue key" if required == "key" else "Summary"
                expected = f'no "{required}" column (Jira\'s "{jira}" works too)'
            else:
                names = " or ".join(f'"{a}"' for a in fmt.aliases[required])
                expected = f"no {required} column for a {fmt.label} (expected {names})"
            problems.append(f"{name}, line {line}: {expected}; the header row has {found}")
    if problems:
        raise ImportFailed(problems)
    return columns


# --- JSON -----------------------------------------------------------------------------------------------------------


def _json_rows(stream: IO, name: str, forced: Format | None) -> tuple[Format, Iterator[RawRow]]:
    text = "".join(_text_chunks(stream, name))
    if not text.strip():
        raise ImportFailed(
            [f'{name} is empty: expected a JSON list of stories, e.g. [{{"key": "SHOP-1", "title": …}}]']
        )
    repeated: list[str] = []
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, repeated))
    except json.JSONDecodeError as error:
        raise ImportFailed(
            [f"{name}, line {error.lineno}, column {error.colno}: malformed JSON ({error.msg})"]
        ) from None
    if isinstance(document, dict) and isinstance(document.get("stories"), list):
        items = document["stories"]
    elif isinstance(document, list):
        items = document
    else:
        raise ImportFailed([f'{name}: expected a list of stories or {{"stories": [...]}} at the top level'])
    spans = _json_item_spans(text, len(items))
    if repeated:
        raise ImportFailed(_repeated_fields(text, spans, name, repeated))
    fmt = forced or detect_json(items)
    return fmt, _json_items(items, spans, fmt, name)


def _object(pairs: list[tuple[str, Any]], repeated: list[str]) -> dict:
    result = dict(pairs)
    if len(result) < len(pairs):
        seen: set[str] = set()
        repeated.extend(k for k, _ in pairs if k in seen or seen.add(k))
    return result


def _repeated_fields(text: str, spans, name: str, repeated: list[str]) -> list[str]:
    """Name the line of each field given twice in one object (json keeps only the last: a silent loss)."""
    problems = []
    for field_name in dict.fromkeys(repeated):
        pattern = re.compile(re.escape(json.dumps(field_name)) + r"\s*:")
        for line, start, end in spans:
            hits = list(pattern.finditer(text, start, end))
            if len(hits) > 1:
                at = line + text.count("\n", start, hits[1].start())
                problems.append(f'{name}, line {at}: the field "{field_name}" appears twice in one object; keep one')
                break
        else:
            problems.append(f'{name}: the field "{field_name}" appears twice in one object; keep one')
    return problems


def _json_items(items: list, spans, fmt: Format, name: str) -> Iterator[RawRow]:
    aliases = fmt.alias_map()
    for index, item in enumerate(items, start=1):
        where = f"item {index}" + (f" (line {spans[index - 1][0]})" if spans else "")
        if not isinstance(item, dict):
            problem = f"expected an object with a key and a title, got {json_type(item)}"
            yield RawRow(f"{name}, {where}", where, {}, {}, "field", [(None, problem)])
            continue
        if fmt.name == "github":
            item = _github_item(item)
        values: dict[str, Any] = {}
        columns: dict[str, str] = {}
        problems = []
        for raw_name, value in item.items():
            field_name = aliases.get(normalise_header(str(raw_name)))
            if field_name is None:
                continue
            if field_name in values:
                problems.append((field_name, f'"{columns[field_name]}" and "{raw_name}" both give the {field_name}'))
            values[field_name] = value
            columns[field_name] = raw_name
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and len(text) > MAX_FIELD_CHARS:
                    problems.append((field_name, too_long(len(text))))
        for field_name in ("key", "title"):
            columns.setdefault(field_name, fmt.aliases[field_name][0])  # so "is missing" can name it
        yield RawRow(f"{name}, {where}", where, values, columns, "field", problems)


def _github_item(item: dict) -> dict:
    """`gh issue list --json …` and the REST API differ a little: label objects, the page's URL, pull requests."""
    item = dict(item)
    if "html_url" in item:
        item.pop("url", None)  # the REST API's "url" is the API's, "html_url" the page
    labels = item.get("labels")
    if isinstance(labels, list):
        item["labels"] = [label.get("name", "") if isinstance(label, dict) else label for label in labels]
    if isinstance(item.get("number"), int):
        item["number"] = str(item["number"])
    item["type"] = "Pull request" if item.get("pull_request") or item.get("isPullRequest") else "Issue"
    return item


def _json_item_spans(text: str, count: int) -> list[tuple[int, int, int]]:
    """(line, start offset, end offset) of each item of the stories list (found by walking the validated JSON)."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    i = ws.match(text).end()
    try:
        if text[i] == "{":
            i = ws.match(text, i + 1).end()
            array_at = None
            while text[i] != "}":
                key, i = decoder.raw_decode(text, i)
                i = ws.match(text, ws.match(text, i).end() + 1).end()  # past the colon
                if key == "stories":
                    array_at = i
                _, i = decoder.raw_decode(text, i)
                i = ws.match(text, i).end()
                if text[i] == ",":
                    i = ws.match(text, i + 1).end()
            if array_at is None:
                return []
            i = array_at
        starts = []
        i = ws.match(text, i + 1).end()  # past the [
        line, counted_to = 1, 0
        while text[i] != "]":
            line += text.count("\n", counted_to, i)
            counted_to = i
            begin = i
            _, i = decoder.raw_decode(text, i)
            starts.append((line, begin, i))
            i = ws.match(text, i).end()
            if text[i] == ",":
                i = ws.match(text, i + 1).end()
        return starts if len(starts) == count else []
    except (ValueError, IndexError):  # line numbers are a courtesy; the items themselves came from json.loads
        return []


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}[
        type(value)
    ]
