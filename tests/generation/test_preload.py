"""The cluster's parent process warms the Gemini SDK before it forks its workers, so no worker pays for it on its
first jobs (bench/throughput.py: 8 fresh workers doing it at once held a sprint's first calls back by 3-4 x L)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.services import ROOT, django_env

# In a fresh interpreter: which of the SDK's pydantic types a call builds are still unfinished (they finish building
# themselves, model_rebuild, on first use) before and after preload(), and whether anything left the process.
SCRIPT = """
import json, socket
import django
django.setup()
from google.genai import types
from generation.engine import gemini

CALL_TYPES = ["GenerateContentConfig", "GenerateContentResponse", "Content", "Part", "Schema", "UserContent",
              "_GenerateContentParameters", "HttpOptions"]
unfinished = lambda: [name for name in CALL_TYPES if not getattr(types, name).__pydantic_complete__]
connects = []
original = socket.socket.connect
socket.socket.connect = lambda self, address: connects.append(address) or original(self, address)
before = unfinished()
gemini.preload("gemini-2.5-flash")
print(json.dumps({"before": before, "after": unfinished(), "connects": connects}))
"""


def test_preload_rehearses_a_call_so_the_sdk_s_types_are_built_before_workers_fork_and_nothing_leaves():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=django_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "GenerateContentConfig" in seen["before"], "the SDK builds its types lazily (else this test proves nothing)"
    assert seen["after"] == []
    assert seen["connects"] == [], "the rehearsal's call is answered inside the process"
    assert "rehearsal failed" not in done.stderr
