"""The generation options — how many test cases, scenarios per test case, which test types — defined once.

`GenerationOptions` holds the defaults (5 / 3 / Functional + UI), the limits and the messages a person reads. The
generate dialog (`GenerationOptions.from_form(request.POST)`), the `generate_tests` command, the JSON API (as its
body schema, so the OpenAPI document shows the same limits) and `generation.jobs.queue_generation` all validate
through it; the engine's `GenerationRequest` takes its defaults from here too.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stories.models import TestType

DEFAULT_TEST_CASES = 5
DEFAULT_SCENARIOS_PER_TEST = 3
DEFAULT_TEST_TYPES = ("FUNCTIONAL", "UI")
MIN_COUNT = 1
MAX_TEST_CASES = 10
MAX_SCENARIOS_PER_TEST = 10
TEST_TYPES = tuple(TestType.values)

TestTypeName = Literal[tuple(TestType.values)]  # type: ignore[valid-type]
_ASCII_DIGITS = re.compile(r"[0-9]{1,6}")  # str.isdigit() would accept "²" and "٣", which int() then refuses


class OptionsError(ValueError):
    """Invalid options; `messages` are for a person, in field order."""

    def __init__(self, messages: list[str]):
        super().__init__(" ".join(messages))
        self.messages = messages


def _whole_number(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"{name} must be a whole number.")


def _in_range(value: int, maximum: int, what: str) -> int:
    if not MIN_COUNT <= value <= maximum:
        raise ValueError(f"Ask for between {MIN_COUNT} and {maximum} {what}.")
    return value


class GenerationOptions(BaseModel):
    """What a QA lead asks the generator for, for one or many stories."""

    model_config = ConfigDict(frozen=True)

    test_cases: Annotated[int, Field(json_schema_extra={"minimum": MIN_COUNT, "maximum": MAX_TEST_CASES})] = (
        DEFAULT_TEST_CASES
    )
    scenarios_per_test: Annotated[
        int, Field(json_schema_extra={"minimum": MIN_COUNT, "maximum": MAX_SCENARIOS_PER_TEST})
    ] = DEFAULT_SCENARIOS_PER_TEST
    test_types: Annotated[
        list[TestTypeName],
        Field(description="Test types; a comma-separated text is accepted too.", json_schema_extra={"minItems": 1}),
    ] = list(DEFAULT_TEST_TYPES)

    @field_validator("test_cases", mode="before")
    @classmethod
    def _test_cases(cls, value):
        return _in_range(_whole_number(value, "test_cases"), MAX_TEST_CASES, "test cases")

    @field_validator("scenarios_per_test", mode="before")
    @classmethod
    def _scenarios_per_test(cls, value):
        return _in_range(_whole_number(value, "scenarios_per_test"), MAX_SCENARIOS_PER_TEST, "scenarios per test case")

    @field_validator("test_types", mode="before")
    @classmethod
    def _test_types(cls, value):
        if isinstance(value, str):
            value = [t for t in value.replace(" ", "").split(",") if t]
        if not isinstance(value, list | tuple):
            raise ValueError("test_types must be a list of test types or a comma-separated text.")
        types = [str(t).strip().upper() for t in value]
        if not types:
            raise ValueError("Choose at least one test type.")
        unknown = [t for t in types if t not in TEST_TYPES]
        if unknown:
            raise ValueError(f"Unknown test type: {', '.join(unknown)} (choose from {', '.join(TEST_TYPES)}).")
        if len(set(types)) != len(types):
            raise ValueError("Each test type can be chosen once.")
        return types

    # --- Ways in -------------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, **values) -> GenerationOptions:
        """Validate keyword values (None or "" means "the default"); raises OptionsError with every problem."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None and v != ""})
        except ValidationError as error:
            raise OptionsError(messages(error.errors(include_url=False))) from error

    @classmethod
    def from_form(cls, data) -> GenerationOptions:
        """Validate the generate dialog's POST (a QueryDict): unticked test types mean none chosen."""
        return cls.parse(
            test_cases=data.get("test_cases"),
            scenarios_per_test=data.get("scenarios_per_test"),
            test_types=data.getlist("test_types"),
        )

    def as_kwargs(self) -> dict:
        return {"test_cases": self.test_cases, "scenarios_per_test": self.scenarios_per_test, "test_types": self.types}

    @property
    def types(self) -> list[str]:
        return list(self.test_types)


def messages(errors: list[dict]) -> list[str]:
    """Pydantic errors as messages for a person: our validators' own words, else "field: what is wrong"."""
    result = []
    for item in errors:
        ctx_error = (item.get("ctx") or {}).get("error")
        if item["type"] == "value_error" and ctx_error is not None:
            result.append(str(ctx_error))
        else:
            loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "form")]
            result.append(f"{'.'.join(loc) or 'The request'}: {item['msg'].rstrip('.')}.")
    return result


def dialog_defaults() -> dict:
    """What the generate dialog shows before the lead changes anything."""
    return {
        "test_cases": DEFAULT_TEST_CASES,
        "scenarios_per_test": DEFAULT_SCENARIOS_PER_TEST,
        "selected_types": list(DEFAULT_TEST_TYPES),
        "min_count": MIN_COUNT,
        "max_test_cases": MAX_TEST_CASES,
        "max_scenarios_per_test": MAX_SCENARIOS_PER_TEST,
    }
