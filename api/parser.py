"""Request bodies: JSON, or an HTML form (so a plain `<form>` or `curl -F` can call the API too)."""

from __future__ import annotations

import json

from ninja.parser import Parser

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class JsonOrFormParser(Parser):
    def parse_body(self, request) -> dict:
        if request.content_type in FORM_TYPES:
            # A repeated field (test_types=UI&test_types=API) becomes a list; the schema accepts both shapes.
            return {k: v if len(v) > 1 else v[0] for k, v in request.POST.lists() if k != "csrfmiddlewaretoken"}
        return json.loads(request.body)
