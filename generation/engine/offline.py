"""The offline generator: deterministic test design from the story's own words, no network.

It works like a tester with the story in front of them: acceptance criteria already written as Given/When/Then become
scenarios as they are; other criteria give a happy path, negative paths, and boundary values for any numeric limit
they state ("at most 50 items" -> one Scenario Outline whose Examples table runs 49 and 50, accepted, and 51, rejected,
plus a scenario checking that the rejected value changes nothing). The test type shapes the steps (a UI case looks at
the page, an API case at the response, a security case at access). The whole plan is designed at once so no scenario
is repeated anywhere in it, then each batch takes its own test cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from generation.engine.data import SuggestedScenario, Suggestion
from generation.engine.planning import ANGLE_LABELS, ANGLES, Batch, CaseFocus, Plan
from generation.engine.text import (
    Limit,
    StoryVoice,
    clean_sentence,
    find_limits,
    fmt,
    lower_first,
    parse_gwt,
    step,
    story_voice,
    upper_first,
)
from stories.gherkin import examples_lines, normalise_steps

# Bump when the offline test design changes; recorded like Gemini's prompt version (prompts.PROMPT_VERSION).
OFFLINE_VERSION = "offline-2"  # 2: boundary values as a Scenario Outline

TYPE_LABELS = {
    "FUNCTIONAL": "functional",
    "UI": "UI",
    "API": "API",
    "INTEGRATION": "integration",
    "SECURITY": "security",
    "PERFORMANCE": "performance",
    "ACCESSIBILITY": "accessibility",
    "REGRESSION": "regression",
}
_CHANNEL = {
    "FUNCTIONAL": "",
    "UI": " through the user interface",
    "API": " through the API",
    "INTEGRATION": " across the connected services",
    "SECURITY": " without weakening access control",
    "PERFORMANCE": " under realistic load",
    "ACCESSIBILITY": " for keyboard and screen reader users",
    "REGRESSION": " without breaking what worked before",
}
_WHEN_SUFFIX = {"API": " through the API", "ACCESSIBILITY": " using only the keyboard"}
_ANGLE_TAGS = {"happy": "@happy-path", "negative": "@negative", "boundary": "@boundary", "edge": "@edge-case"}
# Situations a tester varies to get one more distinct, meaningful scenario out of the same rule.
_SITUATIONS = [
    ("for a first-time {actor}", "the {actor} has never done this before"),
    ("for a returning {actor}", "the {actor} has done this before"),
    ("on a narrow mobile screen", "the {actor} uses a narrow mobile screen"),
    ("after signing in again", "the {actor} signed out and back in just before"),
    ("with text in several alphabets", "the {actor}'s data contains accented and non-Latin characters"),
    ("on a slow connection", "the network connection is slow"),
    ("with a large existing account", "the {actor}'s account already holds a large amount of data"),
    ("right after a failed attempt", "the {actor}'s previous attempt failed"),
    ("in a second browser tab", "the {actor} has the same page open in a second tab"),
    ("after the session was idle", "the {actor}'s session has been idle for 30 minutes"),
]


@dataclass(frozen=True)
class Draft:
    name: str
    givens: tuple[str, ...]
    whens: tuple[str, ...]
    thens: tuple[str, ...]
    angle: str
    examples: tuple[tuple[str, ...], ...] = ()  # a Scenario Outline's table: the header row, then a row per run

    def steps(self) -> str:
        lines = []
        for keyword, parts in (("Given", self.givens), ("When", self.whens), ("Then", self.thens)):
            for i, part in enumerate(p for p in parts if p):
                lines.append(f"{keyword if i == 0 else 'And'} {part}")
        if self.examples:
            lines += examples_lines(self.examples[0], self.examples[1:])
        return normalise_steps("\n".join(lines))


@dataclass(frozen=True)
class Rule:
    """One acceptance criterion (or the story as a whole) read as context, action and outcome."""

    text: str
    givens: tuple[str, ...]
    whens: tuple[str, ...]
    thens: tuple[str, ...]
    limits: tuple[Limit, ...]
    written_as_gwt: bool


def _rule(text: str, voice: StoryVoice, whole_story: bool) -> Rule:
    gwt = parse_gwt(text)
    limits = tuple(find_limits(text))
    if gwt:
        return Rule(text, gwt.givens, gwt.whens, gwt.thens, limits, True)
    default_given = f"a signed-in {voice.actor}"
    when = f"the {voice.actor} {voice.does}"
    if whole_story:
        outcome = voice.benefit or f"the {voice.actor} sees that it worked"
    else:
        outcome = lower_first(clean_sentence(text))
    return Rule(text, (default_given,), (when,), (outcome,), limits, False)


def _type_given(test_type: str, voice: StoryVoice, angle: str) -> str:
    actor = voice.actor
    return {
        "UI": f"the {actor} has opened the page where they {voice.action}",
        "API": f"the {actor}'s API client holds a valid access token",
        "SECURITY": f"the {actor} is signed in with their own account" if angle != "negative" else "",
        "PERFORMANCE": "200 other users are active at the same time",
        "ACCESSIBILITY": "a screen reader is running",
        "INTEGRATION": "the connected services are available",
        "REGRESSION": "data created before this change exists",
    }.get(test_type, "")


def _type_thens(test_type: str, ok: bool, limits: tuple[Limit, ...]) -> tuple[str, ...]:
    seconds = next((fmt(lim.high) + " " + lim.unit for lim in limits if lim.is_time), "2 seconds")
    happy = {
        "UI": "no error message is shown",
        "API": "the API answers with a success status",
        "SECURITY": "the action is recorded in the audit log",
        "PERFORMANCE": f"the response arrives within {seconds}",
        "ACCESSIBILITY": "the screen reader announces the result",
        "INTEGRATION": "the connected services receive the change exactly once",
        "REGRESSION": "existing data still shows as it did before",
    }
    sad = {
        "UI": "an error message next to the affected field explains how to fix it",
        "API": "the API answers with a 4xx status and a readable error",
        "SECURITY": "the attempt is logged without exposing personal data",
        "PERFORMANCE": "the system stays responsive for other users",
        "ACCESSIBILITY": "the error is announced and keyboard focus moves to it",
        "INTEGRATION": "no partial update reaches the connected services",
        "REGRESSION": "the error handling matches the previous release",
    }
    line = (happy if ok else sad).get(test_type, "")
    return (line,) if line else ()


def _boundary_drafts(rule: Rule, voice: StoryVoice) -> list[Draft]:
    drafts = []
    when = rule.whens[0]
    for lim in rule.limits:
        unit = f" {lim.unit}" if lim.unit else ""
        if lim.is_time:
            drafts.append(
                Draft(
                    f"Responds within {fmt(lim.high)}{unit} under normal load",
                    rule.givens,
                    rule.whens,
                    (*rule.thens, f"the result is shown within {fmt(lim.high)}{unit}"),
                    "boundary",
                )
            )
            drafts.append(
                Draft(
                    f"Still responds within {fmt(lim.high)}{unit} at peak load",
                    (*rule.givens, "the system is at its expected peak load"),
                    rule.whens,
                    (f"the result is shown within {fmt(lim.high)}{unit}", "no request fails"),
                    "boundary",
                )
            )
            continue
        d = step(lim.low)
        accepted: list[float] = []
        rejected: list[float] = []
        if lim.kind == "max":
            accepted, rejected = [lim.high, lim.high - d], [lim.high + d]
        elif lim.kind == "min":
            accepted, rejected = [lim.low, lim.low + d], [lim.low - d]
        elif lim.kind == "between":
            accepted, rejected = [lim.low, lim.high], [lim.low - d, lim.high + d]
        elif lim.kind == "below":
            accepted, rejected = [lim.high - d], [lim.high]
        elif lim.kind == "above":
            accepted, rejected = [lim.low + d], [lim.low]
        limit_words = f"{fmt(lim.low)}{unit}" if lim.low == lim.high else f"{fmt(lim.low)} to {fmt(lim.high)}{unit}"
        refusal = f"rejected with a message that states the limit of {limit_words}"
        # One outline runs every value at and around the limit; each rejected value also gets a scenario of its
        # own, checking that nothing changed (a step the accepted rows must not have).
        rows = [(fmt(v), "at the limit" if v in (lim.low, lim.high) else "just inside", "accepted") for v in accepted]
        rows += [(fmt(v), "just outside", "rejected") for v in rejected if v >= 0]
        drafts.append(
            Draft(
                f"Values around the limit of {limit_words}",
                rule.givens,
                (f"{when} with <value>{unit}",),
                ("it is <outcome>",),
                "boundary",
                examples=(("value", "edge", "outcome"), *rows),
            )
        )
        for value in rejected:
            if value < 0:
                continue
            drafts.append(
                Draft(
                    f"{fmt(value)}{unit} is rejected (just outside the limit)",
                    rule.givens,
                    (f"{when} with {fmt(value)}{unit}",),
                    (f"it is {refusal}", "nothing is changed"),
                    "boundary",
                )
            )
    return drafts


def _drafts(rule: Rule, angle: str, voice: StoryVoice) -> list[Draft]:
    """The scenarios a tester writes first for this rule from this angle."""
    actor = voice.actor
    outcome = rule.thens[0]
    when = rule.whens[0]
    if angle == "happy":
        return [
            Draft(f"{upper_first(outcome)}", rule.givens, rule.whens, rule.thens, "happy"),
            Draft(
                f"{upper_first(outcome)}, and it is kept after a reload",
                rule.givens,
                rule.whens,
                (*rule.thens, f"the {actor} still sees the same result after reloading"),
                "happy",
            ),
        ]
    if angle == "negative":
        return [
            Draft(
                "Invalid or missing data is rejected",
                rule.givens,
                (f"{when} with missing or invalid data",),
                ("it is rejected with a message that says what to correct", "nothing is changed"),
                "negative",
            ),
            Draft(
                "A visitor who is not signed in cannot do it",
                ("a visitor who is not signed in",),
                (f"the visitor tries to {voice.action}",),
                ("they are asked to sign in first", "nothing is changed"),
                "negative",
            ),
            Draft(
                "A failure on the server is reported, not hidden",
                (*rule.givens, "the service that stores the change is unavailable"),
                rule.whens,
                (f"the {actor} sees a message asking them to try again later", "no partial change is saved"),
                "negative",
            ),
            Draft(
                f"Another {actor}'s data cannot be reached",
                (*rule.givens, f"another {actor} has data of their own"),
                (f"the {actor} tries to open or change the other {actor}'s data",),
                ("access is denied", f"the other {actor}'s data is unchanged"),
                "negative",
            ),
        ]
    if angle == "boundary":
        return _boundary_drafts(rule, voice)
    return [
        Draft(
            "Repeating the action straight away applies it once",
            rule.givens,
            (*rule.whens, "they repeat it immediately"),
            (outcome, "the result is applied only once"),
            "edge",
        ),
        Draft(
            "The connection drops before the confirmation",
            rule.givens,
            (when, "the connection drops before the confirmation arrives"),
            ("after reconnecting the " + actor + " sees whether the change was saved", "no duplicate is created"),
            "edge",
        ),
        Draft(
            "Two devices at the same time end in the same state",
            (*rule.givens, f"the same {actor} is signed in on two devices"),
            (f"{when} on both devices at the same moment",),
            ("both devices show the same final state",),
            "edge",
        ),
        Draft(
            "Nothing exists yet",
            (*rule.givens, "there is no existing data yet"),
            rule.whens,
            rule.thens,
            "edge",
        ),
        Draft(
            "Text with emoji, accents and quotes is kept exactly",
            rule.givens,
            (f"{when} using text with emoji, accents and quotes",),
            (outcome, "the text is stored and shown exactly as entered"),
            "edge",
        ),
    ]


def _shape(draft: Draft, test_type: str, voice: StoryVoice, limits: tuple[Limit, ...], situation: int) -> Draft:
    """Fit a draft to the test type and, for situation > 0, to one more situation from the list."""
    givens = list(draft.givens)
    extra = _type_given(test_type, voice, draft.angle)
    if extra and extra not in givens and not draft.givens[0].startswith("a visitor"):
        givens.append(extra)
    name = draft.name
    if situation:
        label, given = _SITUATIONS[(situation - 1) % len(_SITUATIONS)]
        givens.append(given.format(actor=voice.actor))
        name = f"{name} {label.format(actor=voice.actor)}"
    suffix = _WHEN_SUFFIX.get(test_type, "")
    whens = list(draft.whens)
    if suffix and whens and not whens[0].endswith(suffix):
        whens[0] += suffix
    ok = draft.angle in ("happy", "edge") or (draft.angle == "boundary" and "rejected" not in draft.thens[0])
    # A type's own failure check (an inline error, a 4xx) only fits scenarios where input is refused.
    # An outline's rows are accepted and rejected alike: neither kind of check fits all of them.
    fitting = (ok or "rejected" in draft.thens[0]) and not draft.examples
    extra_thens = _type_thens(test_type, ok, limits) if fitting else ()
    thens = [*draft.thens, *(t for t in extra_thens if t not in draft.thens)]
    return Draft(name, tuple(givens), tuple(whens), tuple(thens), draft.angle, draft.examples)


def _key(steps: str) -> str:
    return " ".join(normalise_steps(steps).lower().split())


def _case(case: CaseFocus, plan: Plan, voice: StoryVoice, used: set[str]) -> Suggestion:
    whole_story = case.criterion_index is None
    rule = _rule(case.criterion, voice, whole_story)
    angles = [case.angle] + [a for a in ANGLES if a != case.angle]
    base: list[Draft] = [d for angle in angles for d in _drafts(rule, angle, voice)]
    primary = [d for d in base if d.angle == case.angle] or base
    # The case's own angle first, then the other angles, then the same again in more situations (a later round of
    # the same focus starts further down the list of situations, so it does not retread the first round).
    others = [d for d in base if d not in primary]
    situations = [(s + case.variation * 3) % len(_SITUATIONS) + 1 for s in range(len(_SITUATIONS))]
    ordered = [(d, 0) for d in primary] + [(d, s) for s in situations for d in primary]
    ordered += [(d, 0) for d in others] + [(d, s) for s in situations for d in others]
    scenarios: list[SuggestedScenario] = []
    names: set[str] = set()
    for draft, situation in ordered:
        if len(scenarios) == case.scenarios:
            break
        shaped = _shape(draft, case.test_type, voice, rule.limits, situation)
        steps = shaped.steps()
        key = _key(steps)
        if key in used or shaped.name in names:
            continue
        used.add(key)
        names.add(shaped.name)
        tags = [_ANGLE_TAGS[shaped.angle], f"@{case.test_type.lower()}"]
        if shaped.angle == "happy" and situation == 0 and not scenarios and case.angle == "happy":
            tags.insert(0, "@smoke")
        cites = [case.criterion_number] if case.criterion_number is not None else []
        scenarios.append(SuggestedScenario(name=shaped.name, steps=steps, tags=tags, criteria=cites))
    return Suggestion(
        title=_title(case, rule, voice),
        objective=_objective(case, rule, voice),
        preconditions=_preconditions(case, rule, voice),
        test_type=case.test_type,
        priority=case.priority,
        scenarios=scenarios,
        case_number=case.number,
    )


def _title(case: CaseFocus, rule: Rule, voice: StoryVoice) -> str:
    if case.criterion_index is None:
        subject = voice.feature
    elif rule.written_as_gwt:
        subject = upper_first(rule.thens[0])
    else:
        subject = upper_first(clean_sentence(rule.text))
    if len(subject) > 90:
        subject = subject[:87].rstrip() + "…"
    title = f"{subject} — {ANGLE_LABELS[case.angle]}"
    if case.test_type != "FUNCTIONAL":
        title += f" ({TYPE_LABELS[case.test_type]})"
    if case.variation:
        title += f", round {case.variation + 1}"
    return title


def _objective(case: CaseFocus, rule: Rule, voice: StoryVoice) -> str:
    outcome = rule.thens[0]
    channel = _CHANNEL[case.test_type]
    text = {
        "happy": f"Confirm that {outcome} when the {voice.actor} {voice.does} with valid data{channel}.",
        "negative": f"Confirm that invalid data, missing permissions and failures are refused clearly and leave "
        f"nothing half-done{channel}.",
        "boundary": f"Confirm the limits in “{clean_sentence(rule.text)}” hold at, just inside and just outside "
        f"each edge{channel}.",
        "edge": f"Confirm that {outcome} still holds when actions repeat, connections drop or devices race{channel}.",
    }[case.angle]
    return text


def _preconditions(case: CaseFocus, rule: Rule, voice: StoryVoice) -> str:
    parts = [upper_first(g) for g in rule.givens]
    extra = _type_given(case.test_type, voice, case.angle)
    if extra:
        parts.append(upper_first(extra))
    return " ".join(p if p.endswith(".") else p + "." for p in parts)


@lru_cache(maxsize=64)
def _design(plan: Plan) -> dict[int, Suggestion]:
    voice = story_voice(plan.snapshot.title, plan.snapshot.description)
    used: set[str] = set()
    return {case.number: _case(case, plan, voice, used) for case in plan.cases}


def offline_batch(plan: Plan, batch: Batch) -> list[Suggestion]:
    """The suggested test cases for one batch of the plan (copies: callers may change them)."""
    design = _design(plan)
    return [Suggestion.from_dict(design[case.number].to_dict()) for case in batch.cases]
