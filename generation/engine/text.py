"""Reading stories the way a tester does: who the actor is, what they do, Given/When/Then parts, numeric limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Given/When/Then start a step wherever they stand. And/But start one at a line start, after punctuation, or before
# a new noun phrase ("a shopper and an empty cart"), so that "with the right email and password" stays one step.
_KEYWORD_RE = re.compile(
    r"(?:(?:^|(?<=[\s,;.]))(given|when|then)"
    r"|(?:^|(?<=[,;.])|(?<=[,;.] ))(and|but)"
    r"|(?<=\s)(and|but)(?=\s+(?:a|an|the|their|his|her|its|my|our|your|no|some|every|all|\d+)\b))\b\s*",
    re.IGNORECASE,
)
_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)]|AC\s*\d+\s*[:.-])\s*", re.IGNORECASE)
_AS_A_RE = re.compile(r"\bas an?\s+(?P<actor>[^,.;]+?)\s*,?\s+i\s+(?:want|would like|need|can)\b", re.IGNORECASE)
_WANT_RE = re.compile(
    r"\bi\s+(?:want|would like|need)\s+(?:to\s+)?(?:be able to\s+)?(?P<action>[^.;]+?)(?:\s*,?\s+so that\b|[.;]|$)",
    re.IGNORECASE,
)
_CAN_RE = re.compile(r"^(?P<actor>[A-Za-z][\w\s-]{0,40}?)\s+(?:can|is able to|should be able to)\s+(?P<action>.+)$")
_PRONOUNS = {"my": "their", "me": "them", "i": "they", "mine": "theirs", "myself": "themselves", "i'm": "they are"}
# The words that turn a number into a limit worth testing at its edges.
_NUMBER_UNIT = r"\s+(\d+(?:\.\d+)?)\s*([A-Za-z%]+)?"


def _limit(words: str) -> re.Pattern:
    return re.compile(rf"\b(?:{words}){_NUMBER_UNIT}", re.IGNORECASE)


_LIMIT_PATTERNS = [
    ("between", re.compile(r"\bbetween\s+(\d+(?:\.\d+)?)\s+and\s+(\d+(?:\.\d+)?)\s*([A-Za-z%]+)?", re.I)),
    ("max", _limit(r"at most|up to|no more than|maximum(?: of)?|max\.?|not exceed(?:ing)?|limit(?:ed)? (?:of|to)")),
    ("min", _limit(r"at least|no less than|no fewer than|minimum(?: of)?|min\.?")),
    ("below", _limit(r"less than|fewer than|under|below|within")),
    ("above", _limit(r"more than|greater than|over|above|exceeds?")),
]
_TIME_UNITS = {"s", "sec", "secs", "second", "seconds", "ms", "milliseconds", "minute", "minutes", "min", "mins"}


@dataclass(frozen=True)
class Gwt:
    givens: tuple[str, ...]
    whens: tuple[str, ...]
    thens: tuple[str, ...]


@dataclass(frozen=True)
class Limit:
    kind: str  # between | max | min | below | above
    low: float
    high: float
    unit: str

    @property
    def is_time(self) -> bool:
        return self.unit.lower() in _TIME_UNITS


def clean_sentence(text: str) -> str:
    """One line, no bullet, no trailing full stop."""
    text = _BULLET_RE.sub("", " ".join(str(text).split()))
    return text.rstrip(" .;:")


def lower_first(text: str) -> str:
    """'The cart shows' -> 'the cart shows', but keep 'API' and 'SKU-12' as they are."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def third_person(text: str) -> str:
    """Swap first-person words for third-person ones ('my cart' -> 'their cart')."""
    return re.sub(r"\b(my|me|I|mine|myself|I'm)\b", lambda m: _PRONOUNS[m.group(1).lower()], text)


def conjugate(action: str) -> str:
    """'add items to the cart' -> 'adds items to the cart' (the actor does it)."""
    words = action.split(" ", 1)
    verb = words[0]
    rest = f" {words[1]}" if len(words) > 1 else ""
    lower = verb.lower()
    if lower in {"be"}:
        return "is" + rest
    if lower in {"have"}:
        return "has" + rest
    if lower.endswith(("s", "sh", "ch", "x", "z", "o")):
        verb += "es"
    elif lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        verb = verb[:-1] + "ies"
    else:
        verb += "s"
    return verb + rest


def parse_gwt(criterion: str) -> Gwt | None:
    """Split a criterion written as Given/When/Then (one line or several) into its parts; None if it is not one."""
    lines = [clean_sentence(line) for line in str(criterion).splitlines() if line.strip()]
    text = ", ".join(line.rstrip(",;") for line in lines)
    if not re.match(r"^\s*(given|when)\b", text, re.IGNORECASE) or not re.search(r"\bthen\b", text, re.IGNORECASE):
        return None
    parts: dict[str, list[str]] = {"given": [], "when": [], "then": []}
    current = None
    matches = list(_KEYWORD_RE.finditer(text))
    for n, match in enumerate(matches):
        keyword = (match.group(1) or match.group(2) or match.group(3)).lower()
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        clause = text[match.end() : end].strip(" ,;.")
        if keyword in ("given", "when", "then"):
            current = keyword
        if current is None or not clause:
            continue
        if keyword in ("and", "but") and parts[current]:
            parts[current].append(clause)
        elif keyword in ("and", "but"):
            parts[current].append(clause)
        else:
            parts[current].append(clause)
    if not parts["when"] or not parts["then"]:
        return None
    return Gwt(tuple(parts["given"]), tuple(parts["when"]), tuple(parts["then"]))


def _number(value: str) -> float:
    return float(value)


def find_limits(text: str) -> list[Limit]:
    """Numeric limits in a sentence: 'at most 50 items' -> Limit('max', 50, 50, 'items')."""
    limits: list[Limit] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _LIMIT_PATTERNS:
        for match in pattern.finditer(text):
            if any(a <= match.start() < b for a, b in taken):
                continue
            taken.append(match.span())
            if kind == "between":
                low, high, unit = _number(match.group(1)), _number(match.group(2)), match.group(3) or ""
            else:
                low = high = _number(match.group(1))
                unit = match.group(2) or ""
            if unit.lower() in {"and", "or", "the", "a", "an", "of", "to", "in", "per"}:
                unit = ""
            limits.append(Limit(kind, low, high, unit))
    return limits


def has_limits(text: str) -> bool:
    return bool(find_limits(text))


def fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def step(value: float) -> float:
    """The smallest meaningful change next to a limit: 1 for whole numbers, 0.01 for decimals."""
    return 1 if float(value).is_integer() else 0.01


@dataclass(frozen=True)
class StoryVoice:
    """Who acts in a story and what they do, in words a step can use."""

    actor: str  # 'shopper'
    action: str  # 'add items to the cart' (infinitive)
    benefit: str  # 'I get value' or ''
    feature: str  # short name of the feature, e.g. 'Add items to the cart'

    @property
    def does(self) -> str:
        return conjugate(self.action)


def story_voice(title: str, description: str) -> StoryVoice:
    """Derive the actor and action from 'As a … I want … so that …' or from the title."""
    description = " ".join(str(description).split())
    title = clean_sentence(title) or "the feature"
    actor = ""
    action = ""
    match = _AS_A_RE.search(description)
    if match:
        actor = match.group("actor").strip()
        actor = re.sub(r"^(?:registered|logged-in|signed-in)\s+", "", actor, flags=re.I) or actor
    match = _WANT_RE.search(description)
    if match:
        action = third_person(match.group("action").strip())
    can = _CAN_RE.match(title)
    if can:
        actor = actor or can.group("actor").strip()
        action = action or can.group("action").strip()
    if not action:
        action = lower_first(title)
    actor = lower_first(actor or "user")
    benefit = ""
    match = re.search(r"\bso that\s+(?P<benefit>[^.;]+)", description, re.IGNORECASE)
    if match:
        benefit = third_person(match.group("benefit").strip())
    return StoryVoice(actor=actor, action=lower_first(action), benefit=benefit, feature=upper_first(title))
