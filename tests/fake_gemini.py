"""A fake Gemini server on 127.0.0.1 that speaks the REST wire format the real google-genai SDK talks.

What the SDK (google-genai 3.3.0, httpx2) sends, verified against its source and on the wire:
  POST {base_url}/v1/models/{model}:generateContent   (v1 is the SDK's default; v1beta/v1alpha are accepted too)
  headers: x-goog-api-key, Content-Type: application/json, X-Server-Timeout, user-agent google-genai-sdk/...
  body: {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "systemInstruction": {...},
         "generationConfig": {"responseMimeType": "application/json", "responseSchema": {...}, ...}}
A success is {"candidates": [{"content": {"role": "model", "parts": [{"text": "<json>"}]}, "finishReason": "STOP"}]};
an error is {"error": {"code", "message", "status", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
"retryDelay": "17s"}, {"@type": ".../google.rpc.QuotaFailure", "violations": [{"quotaId": ...}]}]}}, which the SDK
raises as genai.errors.APIError (ClientError/ServerError) with .code, .status and .details = that JSON.

Knobs (in-process through FakeGemini, or from another process through POST /_control, see FakeGeminiClient):
  latency       seconds every call takes
  faults        a queue of injected faults, consumed in arrival order; each {"fault": kind, "batch": 0-based batch
                index to match (optional), "times": how many calls it hits (default 1, -1 = forever), ...}
                kinds: 429 (retry_delay "0.05s"), quota_day, 500, 503, 400, bad_key, 401, 403, 404, hang
                (hang_seconds), malformed, off_schema, safety, empty, duplicate, invalid_gherkin, disconnect,
                and short answers: leave_out (the last test case asked is missing), too_few (each test case has
                one scenario fewer than asked), no_then (every second scenario has no Then step); bad_citation
                (scenarios also cite AC-99, which no story has). Scenarios cite the criterion named in their
                test case's focus ("acceptance criterion AC-2: …").
                Scenario Outlines (the first scenario of each test case gets <placeholders> and an `examples`
                table): outline (valid), outline_unknown_placeholder (a step uses <result>, which is not a column),
                outline_ragged (a row has one cell fewer than the header), outline_no_rows (a header, no rows),
                outline_no_examples (placeholders in the steps, `examples` null).
A follow-up prompt (the engine asking again for what an answer left out) is answered with new step texts, so its
scenarios do not repeat the first answer's; its calls are logged with "followup": true.
  hang_seconds  how long a "hang" waits before answering (default 30; the server's stop() ends it early)
State: GET /_control gives calls (start/end monotonic times, received/answered wall-clock times, path, model, story
key, batch, fault, status, response_schema), in_flight and max_in_flight. Run standalone:
`python tests/fake_gemini.py --port 8765 --latency 1.0` (prints the URL when ready).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH_RE = re.compile(r"^/(?P<version>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):generateContent$")
# The engine's prompt lists its test cases in this layout (generation/engine/prompts.py).
_CASE_RE = re.compile(
    r"^- case (?P<number>\d+) \| type (?P<type>[A-Z_]+) \| scenarios (?P<scenarios>\d+) \| angle (?P<angle>\w+)"
    r" \| focus: (?P<focus>.*)$",
    re.MULTILINE,
)
_BATCH_RE = re.compile(r"^Batch (\d+) of (\d+)\.", re.MULTILINE)
_FOLLOWUP_RE = re.compile(r"^Batch \d+ of \d+\. Follow-up:", re.MULTILINE)
_STORY_RE = re.compile(r"^Story (?P<key>\S+): (?P<title>.*)$", re.MULTILINE)
_RPC = "type.googleapis.com/google.rpc."


class FakeGeminiState:
    """Knobs and records, shared by the handler threads."""

    def __init__(self, latency: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.default_latency = latency
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.latency = self.default_latency
            self.hang_seconds = 30.0
            self.faults: list[dict] = []
            self.calls: list[dict] = []
            self.in_flight = 0
            self.max_in_flight = 0

    def configure(self, *, latency=None, faults=None, add_faults=None, hang_seconds=None, reset=False) -> None:
        if reset:
            self.reset()
        with self.lock:
            if latency is not None:
                self.latency = float(latency)
            if hang_seconds is not None:
                self.hang_seconds = float(hang_seconds)
            if faults is not None:
                self.faults = [_fault(f) for f in faults]
            if add_faults:
                self.faults += [_fault(f) for f in add_faults]

    def take_fault(self, batch: int | None) -> dict | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("batch") is not None and fault["batch"] != batch:
                    continue
                if fault["times"] > 0:
                    fault["times"] -= 1
                    if fault["times"] == 0:
                        self.faults.remove(fault)
                return dict(fault)
        return None

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "latency": self.latency,
                "faults": [dict(f) for f in self.faults],
                "calls": [dict(c) for c in self.calls],
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }


def _fault(value) -> dict:
    fault = {"fault": value} if isinstance(value, str) else dict(value)
    fault["fault"] = str(fault["fault"])
    fault.setdefault("times", 1)
    fault.setdefault("batch", None)
    return fault


def max_overlap(calls: list[dict]) -> int:
    """The most calls that were in flight at the same moment, from their start/end times."""
    events = []
    for call in calls:
        if call.get("end") is None:
            continue
        events += [(call["start"], 1), (call["end"], -1)]
    current = best = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        best = max(best, current)
    return best


def _error(code: int, status: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


def _rate_limited(retry_delay: str, per_day: bool) -> dict:
    per = "PerDay" if per_day else "PerMinute"
    quota_id = f"GenerateRequests{per}PerProjectPerModel-FreeTier"
    metric = "generativelanguage.googleapis.com/generate_content_requests"
    return _error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        [
            {
                "@type": _RPC + "QuotaFailure",
                "violations": [{"quotaMetric": metric, "quotaId": quota_id, "quotaValue": "50" if per_day else "10"}],
            },
            {"@type": _RPC + "Help", "links": [{"description": "Learn more", "url": "https://ai.google.dev/"}]},
            {"@type": _RPC + "RetryInfo", "retryDelay": retry_delay},
        ],
    )


_ERRORS = {
    "500": (500, lambda f: _error(500, "INTERNAL", "An internal error has occurred. Please retry.")),
    "503": (503, lambda f: _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")),
    "400": (400, lambda f: _error(400, "INVALID_ARGUMENT", f.get("message", "Request contains an invalid argument."))),
    "bad_key": (
        400,
        lambda f: _error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [{"@type": _RPC + "ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}],
        ),
    ),
    "401": (401, lambda f: _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")),
    "403": (403, lambda f: _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")),
    "404": (404, lambda f: _error(404, "NOT_FOUND", "models/x is not found for API version v1.")),
    "429": (429, lambda f: _rate_limited(f.get("retry_delay", "0.05s"), per_day=False)),
    "quota_day": (429, lambda f: _rate_limited(f.get("retry_delay", "0.05s"), per_day=True)),
}


def _cases(prompt: str) -> list[dict]:
    return [
        {
            "number": int(m.group("number")),
            "type": m.group("type"),
            "scenarios": int(m.group("scenarios")),
            "angle": m.group("angle"),
            "focus": m.group("focus").strip(),
        }
        for m in _CASE_RE.finditer(prompt)
    ]


def answer_for(prompt: str, fault: str | None = None) -> dict:
    """A plausible batch answer for the test cases the prompt asks for, valid for the engine's schema."""
    story = _STORY_RE.search(prompt)
    key = story.group("key") if story else "STORY"
    again = " again" if _FOLLOWUP_RE.search(prompt) else ""
    cases = _cases(prompt) or [{"number": 1, "type": "FUNCTIONAL", "scenarios": 1, "angle": "happy", "focus": ""}]
    if fault == "leave_out":
        cases = cases[:-1]
    test_cases = []
    for case in cases:
        n, angle = case["number"], case["angle"]
        scenarios = []
        count = max(1, case["scenarios"] - 1) if fault == "too_few" else case["scenarios"]
        for k in range(1, count + 1):
            steps = [
                f"Given the {key} feature is available for case {n}",
                f"When the user follows the {angle} flow{again}, variant {k}",
                f"Then the outcome expected for case {n}, variant {k}{again}, is shown",
            ]
            if fault == "no_then" and k % 2 == 0:
                steps = steps[:2]
            cites = re.findall(r"\bAC-\d+", case["focus"])
            if fault == "bad_citation":
                cites = [*cites, "AC-99"]
            if fault == "duplicate":
                steps = ["Given the feature is available", "When the user follows the usual flow", "Then it works"]
            if fault == "invalid_gherkin" and k == 1:
                steps = ["Given the feature is available", "When the user does it"]  # no Then: must be dropped
            scenario = {
                "name": f"{angle.title()} flow{again}, variant {k}",
                "steps": steps,
                "tags": [f"@{angle}"],
                "criteria": cites,
            }
            if fault and fault.startswith("outline") and k == 1:
                scenario.update(_outline(key, n, again, fault))
            scenarios.append(scenario)
        test_cases.append(
            {
                "case": n,
                "title": f"{case['focus'][:80] or 'Story behaviour'} ({angle})",
                "objective": f"Check the {angle} flow for case {n}.",
                "preconditions": "The user is signed in.",
                "test_type": case["type"],
                "priority": "high" if angle in ("happy", "negative") else "medium",
                "scenarios": scenarios,
            }
        )
    return {"test_cases": test_cases}


def _outline(key: str, n: int, again: str, fault: str) -> dict:
    """A Scenario Outline's steps and examples for case n, valid or broken as the fault says."""
    steps = [
        f"Given the {key} cart for case {n} is empty",
        f"When the shopper adds <quantity> items{again}",
        "Then the cart is <result>",
    ]
    columns = ["quantity", "result"]
    rows = [["1", "accepted"], ["50", "accepted"], ["51", "refused with the limit of 50"]]
    if fault == "outline_unknown_placeholder":
        steps.append("And the message says <message>")
    elif fault == "outline_ragged":
        rows[1] = ["50"]
    elif fault == "outline_no_rows":
        rows = []
    elif fault == "outline_no_examples":
        return {"name": f"Quantity limits for case {n}{again}", "steps": steps, "examples": None}
    return {
        "name": f"Quantity limits for case {n}{again}",
        "steps": steps,
        "examples": {"columns": columns, "rows": rows},
    }


def _candidate_response(text: str | None, finish: str = "STOP") -> dict:
    candidate: dict = {"finishReason": finish, "index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish == "SAFETY":
        candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 200, "candidatesTokenCount": 400, "totalTokenCount": 600},
        "modelVersion": "fake-gemini",
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeGeminiHTTPServer

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests read the call log instead
        pass

    def _send(self, code: int, payload: dict | str) -> None:
        body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        # A call ends when its answer leaves: a client may start its next call before this thread runs again, and
        # that must not count as overlap.
        self._end_call()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nothing to tell it

    _call: dict | None = None

    def _end_call(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            state = self.server.state
            with state.lock:
                state.in_flight -= 1
                call["end"] = time.monotonic()
                call["answered"] = time.time()

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def do_GET(self):  # noqa: N802
        if self.path.rstrip("/") == "/_control":
            return self._send(200, self.server.state.snapshot())
        self._send(404, _error(404, "NOT_FOUND", "Not found."))

    def do_POST(self):  # noqa: N802
        state = self.server.state
        if self.path.rstrip("/") == "/_control":
            knobs = self._read_json()
            state.configure(**{k: v for k, v in knobs.items() if k in _KNOBS})
            return self._send(200, state.snapshot())
        match = _PATH_RE.match(self.path.split("?")[0])
        if not match:
            return self._send(404, _error(404, "NOT_FOUND", f"No route for {self.path}."))
        body = self._read_json()
        prompt = "".join(
            part.get("text", "") for content in body.get("contents", []) for part in content.get("parts", [])
        )
        batch_match = _BATCH_RE.search(prompt)
        batch = int(batch_match.group(1)) - 1 if batch_match else None
        call = {
            "path": self.path,
            "version": match.group("version"),
            "model": match.group("model"),
            "batch": batch,
            "story": story.group("key") if (story := _STORY_RE.search(prompt)) else None,
            "cases": [c["number"] for c in _cases(prompt)],
            "followup": bool(_FOLLOWUP_RE.search(prompt)),
            "had_key": bool(self.headers.get("x-goog-api-key")),
            "json_mode": body.get("generationConfig", {}).get("responseMimeType") == "application/json",
            "response_schema": body.get("generationConfig", {}).get("responseSchema"),
            "start": time.monotonic(),
            "end": None,
            "received": time.time(),  # wall clock, to line calls up with the jobs' timestamps (benchmarks)
            "status": None,
            "fault": None,
        }
        with state.lock:
            self._call = call
            state.calls.append(call)
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            latency, hang_seconds = state.latency, state.hang_seconds
        try:
            fault = state.take_fault(batch)
            kind = fault["fault"] if fault else None
            call["fault"] = kind
            if kind == "hang":
                state.stopping.wait(float(fault.get("hang_seconds", hang_seconds)))
            elif latency:
                state.stopping.wait(latency)
            if kind == "disconnect":
                call["status"] = 0
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind in _ERRORS:
                code, make = _ERRORS[kind]
                call["status"] = code
                return self._send(code, make(fault))
            answer = answer_for(prompt, kind)
            if kind == "malformed":
                response = _candidate_response(json.dumps(answer)[:120])
            elif kind == "off_schema":
                response = _candidate_response(json.dumps({"cases": [{"name": "x", "steps": "Given x"}]}))
            elif kind == "safety":
                response = _candidate_response(None, finish="SAFETY")
            elif kind == "empty":
                response = _candidate_response("")
            else:
                response = _candidate_response(json.dumps(answer))
            call["status"] = 200
            self._send(200, response)
        finally:
            self._end_call()


_KNOBS = {"latency", "faults", "add_faults", "hang_seconds", "reset"}


class FakeGeminiHTTPServer(ThreadingHTTPServer):
    # The standard library's backlog of 5 would serialise concurrent calls: the engine opens many at once.
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, state: FakeGeminiState):
        self.state = state
        super().__init__(address, _Handler)


class FakeGemini:
    """A running fake server (in this process) and its knobs."""

    def __init__(self, port: int = 0, latency: float = 0.0, host: str = "127.0.0.1") -> None:
        self.state = FakeGeminiState(latency)
        self.httpd = FakeGeminiHTTPServer((host, port), self.state)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-gemini", daemon=True)
        self._thread.start()

    def configure(self, **knobs) -> None:
        self.state.configure(**knobs)

    def reset(self) -> None:
        self.state.reset()

    def snapshot(self) -> dict:
        return self.state.snapshot()

    @property
    def calls(self) -> list[dict]:
        return self.state.snapshot()["calls"]

    @property
    def max_in_flight(self) -> int:
        return self.state.max_in_flight

    def stop(self) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def start_fake_gemini(port: int = 0, latency: float = 0.0) -> FakeGemini:
    """Start the fake server on 127.0.0.1 in a background thread; stop() it when done."""
    return FakeGemini(port=port, latency=latency)


class FakeGeminiClient:
    """Knobs of a fake server running in another process, through its /_control endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _post(self, payload: dict) -> dict:
        request = urllib.request.Request(
            f"{self.url}/_control",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **knobs) -> dict:
        return self._post(knobs)

    def reset(self) -> dict:
        return self._post({"reset": True})

    def snapshot(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_control", timeout=10) as response:
            return json.loads(response.read())

    @property
    def calls(self) -> list[dict]:
        return self.snapshot()["calls"]


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Gemini server for QAForge tests and benchmarks.")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each call takes")
    args = parser.parse_args()
    server = FakeGemini(port=args.port, latency=args.latency)
    print(f"fake_gemini listening on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
