"""Template filters for showing Gherkin and asking stories.permissions."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from stories import gherkin, permissions

register = template.Library()


@register.filter
def gherkin_steps(steps: str, indent: int = 2) -> SafeString:
    """Steps with highlighted keywords, indented under their `Scenario:` line (escaping is done by highlight)."""
    pad = " " * int(indent)
    return mark_safe("\n".join(pad + line for line in str(gherkin.highlight(steps or "")).split("\n")))


@register.filter
def can_edit(user, obj) -> bool:
    """`{% if request.user|can_edit:story %}`: show a control only to whom the view would allow it
    (`stories.permissions`; the view checks again)."""
    return permissions.can_edit(user, obj)
