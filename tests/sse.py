"""Drive the live-updates stream (`generation.events`) through the real ASGI application in-process."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from django.db import connections
from django.test import Client

from qaforge.asgi import application


class Stream:
    """One GET driven through the ASGI application in-process, as a server would; the body is parsed as SSE."""

    def __init__(self, url: str, session_key: str | None = None, headers: dict[str, str] | None = None):
        parts = urlsplit(url)
        sent = [(b"host", b"testserver")]
        if session_key:
            sent.append((b"cookie", f"sessionid={session_key}".encode()))
        sent += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "root_path": "",
            "query_string": parts.query.encode(),
            "headers": sent,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.status: int | None = None
        self.headers: dict[str, str] = {}  # the response's
        self.started = asyncio.Event()
        self.gone = asyncio.Event()
        self.requested = False
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.buffer = ""
        self.task: asyncio.Task | None = None

    async def receive(self):
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            self.started.set()
        elif message["type"] == "http.response.body":
            await self.chunks.put(message.get("body", b""))

    async def open(self) -> Stream:
        self.task = asyncio.create_task(application(self.scope, self.receive, self.send))
        await asyncio.wait_for(self.started.wait(), 10)
        return self

    async def next_event(self, timeout: float = 10) -> tuple[str, str]:
        """The next named event (comments and pings skipped) as (event name, data)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            while "\r\n\r\n" in self.buffer:
                block, self.buffer = self.buffer.split("\r\n\r\n", 1)
                name, data = "message", []
                for line in block.split("\r\n"):
                    if line.startswith("event: "):
                        name = line[len("event: ") :]
                    elif line.startswith("data: "):
                        data.append(line[len("data: ") :])
                if data:
                    return name, "\n".join(data)
            remaining = deadline - asyncio.get_running_loop().time()
            chunk = await asyncio.wait_for(self.chunks.get(), max(remaining, 0.01))
            self.buffer += chunk.decode()

    async def event_containing(self, text: str, timeout: float = 10) -> tuple[list[tuple[str, str]], tuple[str, str]]:
        """Read until an event whose data contains `text`: (the events before it, that event)."""
        before = []
        while True:
            event = await self.next_event(timeout)
            if text in event[1]:
                return before, event
            before.append(event)

    async def close(self) -> None:
        self.gone.set()
        await asyncio.wait_for(self.task, 5)


def session_key(user) -> str:
    """A new signed-in session for `user` (a fresh client each time: logging in again would end the last one)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def log_out(session: str) -> None:
    """Log out through the app, as another tab of the same browser would."""
    client = Client()
    client.cookies["sessionid"] = session
    assert client.post("/logout/").status_code == 302


def in_thread(func, *args, **kwargs):
    """Run database work off the event loop (as the workers do), on a connection closed afterwards."""

    def run():
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return asyncio.to_thread(run)
