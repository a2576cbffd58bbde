"""Template filters for showing Gherkin."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from stories import gherkin

register = template.Library()


@register.filter
def gherkin_steps(steps: str, indent: int = 2) -> SafeString:
    """Steps with highlighted keywords, indented under their `Scenario:` line (escaping is done by highlight)."""
    pad = " " * int(indent)
    return mark_safe("\n".join(pad + line for line in str(gherkin.highlight(steps or "")).split("\n")))
