"""What every generator shares about failures, without importing the Gemini SDK (about 1 s of CPU)."""

from __future__ import annotations

import re

# Order in which a failure is "clearest" for the QA lead when every batch failed.
FAILURE_RANK = ["auth", "model", "quota", "request", "rate", "content", "timeout", "server", "network", "internal"]


def redact(text: str, api_key: str) -> str:
    """Remove the key (and anything shaped like a Google API key) from a text before it is shown or logged."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    return re.sub(r"AIza[0-9A-Za-z_\-]{20,}", "[redacted]", text)
