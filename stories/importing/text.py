"""Tracker text as clean text: Jira wiki markup, HTML (Azure DevOps) and Markdown (GitHub) become plain paragraphs,
and acceptance criteria become one item per list item (a Given/When/Then block stays one item).

Every markup goes the same way: Jira wiki -> Markdown (jira2markdown) -> HTML (markdown-it-py) -> blocks
(BeautifulSoup); Azure DevOps HTML starts at the last step. The blocks are paragraphs, headings, list items and
preformatted text; `description()` joins them, `criteria()` turns them into criteria and `split_sections()` takes an
"Acceptance criteria" section out of a body (GitHub issues keep them there).

jira2markdown builds its pyparsing grammar on every call and then costs 60–450 ms per cell on this machine
(measured; a 4,000-row export took minutes to preview). So the block structure QA tickets actually use — headings,
bullet and numbered lists, tables, {noformat}/{code} blocks and the inline marks — is read here line by line
(`jira_blocks`, ~1,000× faster), and any cell with a construct outside that subset ({panel}, {quote}, bq., colours…)
goes through jira2markdown, whose grammar is built once. tests/stories/test_importing_text.py checks that both
paths give the same blocks on every sample cell.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

from bs4 import BeautifulSoup, NavigableString, Tag

from stories.models import normalise_criterion

MARKUPS = ("jira", "html", "markdown")

# --- Plain criteria (cells without markup, and each paragraph of marked-up text) ------------------------------------

_BULLET = re.compile(r"^(?:[-*•–]\s+|#\s+|\d{1,3}[.)]\s+|\(\d{1,3}\)\s+|AC\s*\d{1,3}\s*[:.)\-]\s*)", re.IGNORECASE)
_GWT_START = re.compile(r"^(?:given|when)\b", re.IGNORECASE)
_AND = re.compile(r"^(?:and|but)\b", re.IGNORECASE)
_WHEN = re.compile(r"^when\b", re.IGNORECASE)
_THEN = re.compile(r"^then\b", re.IGNORECASE)
_HEADING = re.compile(r"^(?:h\d\.\s*)?(?:\*\s*)?acceptance criteria\s*:?\s*(?:\*\s*)?$", re.IGNORECASE)
_AC_TITLE = re.compile(r"^\W*acceptance\s+criteria\W*$", re.IGNORECASE)
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")


def split_criteria(text: str) -> list[str]:
    """Split one cell of acceptance criteria into items.

    Items are separated by new lines or bullet markers ("- ", "* ", "1.", "#"). A Given/When/Then criterion written
    over several lines stays one item: a line starting with And/But, or a When/Then that the criterion still lacks,
    continues it. When the cell uses bullets, an unmarked line continues the item above (a wrapped line).
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    uses_bullets = any(_BULLET.match(line) for line in lines)
    items: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if not line:
            current = None  # a blank line always ends a criterion
            continue
        if _HEADING.match(line):
            continue
        bullet = _BULLET.match(line)
        if bullet:
            line = line[bullet.end() :].strip()
            if not line:
                continue
        if current is not None and _continues(current, line, bulleted=bool(bullet), uses_bullets=uses_bullets):
            current.append(line)
            continue
        current = [line]
        items.append(current)
    return ["\n".join(item) for item in items]


def _continues(current: list[str], line: str, *, bulleted: bool, uses_bullets: bool) -> bool:
    if _GWT_START.match(current[0]):
        has_then = any(_THEN.match(previous) for previous in current)
        if _AND.match(line):
            return True
        if _WHEN.match(line) and not has_then and not _WHEN.match(current[-1]):
            return True
        if _THEN.match(line) and not has_then:
            return True
    return uses_bullets and not bulleted and not _GWT_START.match(line)


# --- Blocks ---------------------------------------------------------------------------------------------------------


@dataclass
class Block:
    kind: str  # "p" | "h" | "li" | "pre"
    text: str
    depth: int = 0  # list nesting, for "li"


def blocks(text: str, markup: str | None) -> list[Block]:
    """The text's paragraphs, headings, list items and preformatted blocks, markup removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    if markup == "jira":
        if not _has_jira_markup(text):
            return _plain_blocks(text)
        fast = jira_blocks(text)
        if fast is not None:
            return fast
        return _html_blocks(_markdown_html(_jira_markdown(text)), keep_newlines=True)
    if markup == "markdown":
        return _html_blocks(_markdown_html(text), keep_newlines=True)
    if markup == "html":
        if "<" not in text and "&" not in text:
            return _plain_blocks(text)
        return _html_blocks(text, keep_newlines=False)
    return _plain_blocks(text)


def uses_markup(text: str, markup: str | None) -> bool:
    """Whether converting `text` changes more than its whitespace (cheap: for the "converted" warning)."""
    if markup == "jira":
        return _has_jira_markup(text)
    if markup == "html":
        return "<" in text or "&" in text
    return markup == "markdown" and bool(re.search(r"[*_`#\[<>|-]", text))


def description(parts: list[Block]) -> str:
    """Blocks as readable plain text: paragraphs apart, list items as "- " lines."""
    out: list[str] = []
    for block in parts:
        if block.kind == "li":
            item = block.text.replace("\n", "\n" + "  " * (block.depth + 1))
            entry = f"{'  ' * block.depth}- {item}"
            if out and out[-1].lstrip().startswith("- ") and not out[-1].endswith("\n"):
                out[-1] += "\n" + entry
            else:
                out.append(entry)
        else:
            out.append(block.text)
    return "\n\n".join(out)


def criteria(parts: list[Block]) -> list[str]:
    """One criterion per list item; paragraphs are split as a plain cell is (a Given/When/Then block stays one)."""
    items: list[str] = []
    for block in parts:
        if block.kind == "h":
            continue  # "Acceptance criteria", "Scenarios": titles, not criteria
        if block.kind == "li":
            items.append(_CHECKBOX.sub("", block.text))
        elif block.kind == "pre":
            items.append(block.text)
        else:
            items.extend(split_criteria(block.text))
    return [item for item in map(normalise_criterion, items) if item]


def split_sections(parts: list[Block]) -> tuple[list[Block], list[Block]]:
    """(the blocks outside an "Acceptance criteria" section, the blocks inside it). The section is a heading (or a
    paragraph that is only those words) up to the next heading."""
    outside: list[Block] = []
    inside: list[Block] = []
    in_section = False
    for block in parts:
        if block.kind in ("h", "p") and _AC_TITLE.match(block.text):
            in_section = True
            continue
        if block.kind == "h":
            in_section = False
        (inside if in_section else outside).append(block)
    return outside, inside


# --- Converters -----------------------------------------------------------------------------------------------------

# Anything Jira's wiki renderer would treat specially: headings, bullets, tables, braces macros, bold/italic,
# links, entities. A cell without any of these is plain text and skips the (slow) converter.
_JIRA_HINTS = re.compile(r"(^|\n)\s*(h[1-6]\.|[*#-]+\s|\|\||\||bq\.)|\{|\*\S|_\S|\[[^\]]*\]|&\w+;|!\S+!|\+\S|\^\S|~\S")


def _has_jira_markup(text: str) -> bool:
    return bool(_JIRA_HINTS.search(text))


@functools.cache
def _jira_grammar():
    from jira2markdown.elements import MarkupElements
    from pyparsing import Forward, ParserElement

    # What jira2markdown.convert() does on every call, once.
    ParserElement.set_default_whitespace_chars("")
    elements = MarkupElements()
    inline_markup, markup = Forward(), Forward()
    inline_markup <<= elements.expr(inline_markup, markup, {}, [e for e in elements if e.is_inline_element])
    markup <<= elements.expr(inline_markup, markup, {}, elements)
    return markup


def _jira_markdown(text: str) -> str:
    return _jira_grammar().transform_string(text)


@functools.cache
def _markdown_parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def _markdown_html(text: str) -> str:
    return _markdown_parser().render(text)


def _plain_blocks(text: str) -> list[Block]:
    paragraphs = re.split(r"\n\s*\n", text)
    return [Block("p", "\n".join(line.strip() for line in p.split("\n"))) for p in paragraphs if p.strip()]


_BLOCK_TAGS = {"p", "div", "section", "article", "blockquote", "header", "footer", "main", "body", "html"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SPACES = re.compile(r"[ \t\f\v\xa0\u200b]+")


class _BlockWriter:
    """Walks parsed HTML and collects blocks; inline elements contribute their text to the current line."""

    def __init__(self, keep_newlines: bool):
        self.keep_newlines = keep_newlines
        self.blocks: list[Block] = []
        self.lines: list[str] = [""]

    def text(self, value: str) -> None:
        if self.keep_newlines:
            parts = value.split("\n")
            self.lines[-1] += _SPACES.sub(" ", parts[0])
            for part in parts[1:]:
                self.lines.append(_SPACES.sub(" ", part))
        else:
            self.lines[-1] += _SPACES.sub(" ", value.replace("\n", " "))

    def newline(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def flush(self, kind: str = "p", depth: int = 0) -> None:
        text = "\n".join(line.strip() for line in self.lines if line.strip())
        if text:
            self.blocks.append(Block(kind, text, depth))
        self.lines = [""]

    def walk(self, node: Tag, depth: int = 0) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if child.__class__.__name__ in ("Comment", "Doctype", "Declaration", "ProcessingInstruction"):
                    continue
                self.text(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in ("script", "style"):
                continue
            if name == "br":
                if not self.lines[-1].strip() and not self.keep_newlines:
                    self.flush()  # <div><br></div>: Azure DevOps' empty line between paragraphs
                else:
                    self.lines.append("")
            elif name in _HEADINGS:
                self.flush()
                self.walk(child, depth)
                self.flush("h")
            elif name in ("ul", "ol"):
                self.flush()
                for item in child.find_all("li", recursive=False):
                    self._item(item, depth)
            elif name == "li":  # a stray <li> outside a list
                self._item(child, depth)
            elif name == "pre":
                self.flush()
                self.blocks.append(Block("pre", child.get_text().strip("\n")))
            elif name == "table":
                self.flush()
                for row in child.find_all("tr"):
                    cells = [" ".join(c.get_text(" ").split()) for c in row.find_all(["td", "th"])]
                    self.lines.append(" | ".join(cells))
                self.flush()
            elif name == "div" and not self.keep_newlines:
                self.newline()
                self.walk(child, depth)
                self.newline()
            elif name == "a" and child.get("href", "").startswith(("http://", "https://")):
                self.walk(child, depth)
                label = child.get_text().strip()
                if child["href"] not in label:
                    self.text(f" ({child['href']})")
            elif name in _BLOCK_TAGS:
                self.flush()
                self.walk(child, depth)
                self.flush()
            else:
                self.walk(child, depth)

    def _item(self, item: Tag, depth: int) -> None:
        self.flush()
        nested = item.find_all(["ul", "ol"], recursive=False)
        for sub in nested:
            sub.extract()
        inner = _BlockWriter(self.keep_newlines)
        inner.walk(item, depth)
        inner.flush()
        text = "\n".join(b.text for b in inner.blocks)
        if text:
            self.blocks.append(Block("li", text, depth))
        for sub in nested:
            for sub_item in sub.find_all("li", recursive=False):
                self._item(sub_item, depth + 1)


def _html_blocks(html: str, *, keep_newlines: bool) -> list[Block]:
    writer = _BlockWriter(keep_newlines)
    writer.walk(BeautifulSoup(html, "html.parser"))
    writer.flush()
    return writer.blocks


# --- Jira wiki markup, the common subset --------------------------------------------------------------------------

_JIRA_FALLBACK = re.compile(r"\{(?:panel|quote|color|section|column|anchor)|(^|\n)\s*bq\.|\{\{\{", re.IGNORECASE)
_JIRA_HEADING = re.compile(r"^h([1-6])\.\s+(.*)$")
_JIRA_ITEM = re.compile(r"^([*#-]+)\s+(.*)$")
_JIRA_BLOCK = re.compile(r"^\{(noformat|code)(?::[^}]*)?\}(.*)$")
# (the character without which the mark cannot occur, pattern, replacement): most lines skip most patterns.
_JIRA_INLINE = [
    ("{", re.compile(r"\{\{(.+?)\}\}"), r"\1"),  # {{monospace}}
    ("[", re.compile(r"\[([^\]|]+)\|((?:https?|mailto):[^\]]+)\]"), r"\1 (\2)"),  # [text|url]
    ("[", re.compile(r"\[~([^\]]+)\]"), r"\1"),  # [~user]
    ("[", re.compile(r"\[((?:https?|mailto):[^\]]+)\]"), r"\1"),  # [url]
    ("!", re.compile(r"!([^!\s|]+\.\w{2,4})(?:\|[^!]*)?!"), ""),  # !image.png|thumbnail!
    ("*", re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *bold*
    ("_", re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), r"\1"),  # _italic_
    ("+", re.compile(r"(?<![\w+])\+(?=\S)([^+\n]+?)(?<=\S)\+(?![\w+])"), r"\1"),  # +inserted+
    ("^", re.compile(r"(?<![\w^])\^(?=\S)([^^\n]+?)(?<=\S)\^(?![\w^])"), r"\1"),  # ^superscript^
    ("~", re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), r"\1"),  # ~subscript~
    ("??", re.compile(r"\?\?(.+?)\?\?"), r"\1"),  # ??citation??
]


def _jira_inline(text: str) -> str:
    for trigger, pattern, replacement in _JIRA_INLINE:
        if trigger in text:
            text = pattern.sub(replacement, text)
    if "&" in text:
        text = html.unescape(text)
    if "\\\\" in text:
        text = text.replace("\\\\", "\n")
    return _SPACES.sub(" ", text).strip()


def jira_blocks(text: str) -> list[Block] | None:
    """Jira wiki markup as blocks, line by line; None when the text uses a construct left to jira2markdown."""
    if _JIRA_FALLBACK.search(text):
        return None
    out: list[Block] = []
    paragraph: list[str] = []
    item: Block | None = None
    in_table = False
    lines = iter(text.split("\n"))

    def flush() -> None:
        nonlocal item, in_table
        if paragraph:
            out.append(Block("p", "\n".join(paragraph)))
            paragraph.clear()
        item, in_table = None, False

    for raw in lines:
        line = raw.strip()
        if not line:
            flush()
            continue
        block = _JIRA_BLOCK.match(line)
        if block:
            flush()
            body = [block.group(2)] if block.group(2) else []
            for inner in lines:
                end = inner.find("{" + block.group(1))
                if end >= 0:
                    body.append(inner[:end])
                    break
                body.append(inner)
            out.append(Block("pre", "\n".join(body).strip("\n")))
            continue
        heading = _JIRA_HEADING.match(line)
        if heading:
            flush()
            out.append(Block("h", _jira_inline(heading.group(2))))
            continue
        if line.startswith("|"):  # ||heading||heading|| or |cell|cell|: one "a | b" line per row
            if not in_table:
                flush()
                in_table = True
            cells = re.split(r"\|\|?", line.strip("|"))
            paragraph.append(" | ".join(_jira_inline(c) for c in cells))
            continue
        if in_table:
            flush()
        bullet = _JIRA_ITEM.match(line)
        if bullet:
            if paragraph:
                flush()
            item = Block("li", _jira_inline(bullet.group(2)), len(bullet.group(1)) - 1)
            out.append(item)
            continue
        if item is not None:  # a wrapped line continues its list item
            item.text = f"{item.text}\n{_jira_inline(line)}"
            continue
        paragraph.append(_jira_inline(line))
    flush()
    return [b for b in out if b.text or b.kind == "pre"]
