"""Template filters for showing Gherkin and asking stories.permissions."""

from django import template
from django.utils.safestring import SafeString

from stories import gherkin, permissions

register = template.Library()


@register.filter
def gherkin_steps(steps: str, indent: int = 2) -> SafeString:
    """Steps with highlighted keywords, indented under their `Scenario:` line, tables aligned and indented under
    their step or `Examples:` (escaping is done by gherkin.highlight_block)."""
    return gherkin.highlight_block(str(steps or ""), int(indent))


@register.filter
def scenario_keyword(steps: str) -> str:
    """`Scenario Outline` for steps with an Examples table, else `Scenario`."""
    return gherkin.scenario_keyword(str(steps or ""))


@register.filter
def can_edit(user, obj) -> bool:
    """`{% if request.user|can_edit:story %}`: show a control only to whom the view would allow it
    (`stories.permissions`; the view checks again)."""
    return permissions.can_edit(user, obj)
