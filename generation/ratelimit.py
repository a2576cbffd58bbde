"""The cluster-wide limit on model calls: requests per minute, tokens per minute and calls in flight, shared by
every worker process on every machine through Redis (when REDIS_URL is set) or the database (otherwise).

Each worker process has one `engine.limiter.CallLimiter` that gathers its waiting calls and talks to a store here in
one round trip for all of them (`exchange`): finished calls report their real token count, a 429's retry delay
pauses the whole cluster, and as many waiting calls as the limits allow are granted.

The rule, the same in every store (`decide`): a call is counted from the moment it is granted, for the window
(QAFORGE_LLM_RATE_WINDOW_SECONDS, 60) plus a margin, so that jitter between here and Gemini cannot squeeze one call
too many into any window Gemini sees (and its start moves to when its request really left: a fresh worker can take
a second to send its first one); it holds a concurrency slot until it ends (or, if its process died, until its
lease runs out). Tokens are estimated before the call and corrected from the response's usage metadata.

Why not the `limits` library: it has Redis and memory storages but no database one, cannot correct a hit after the
fact (estimated -> real tokens) and has no concurrency leases; one small algorithm over a table, a Lua script and
a list keeps the three stores identical.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

MARGIN_SECONDS = 0.5  # added to the window: network jitter between the limiter and Gemini
POLL_SECONDS = 0.2  # how soon to ask again when only the concurrency limit is full (a slot frees at any moment)
# ... and at the latest when the tokens-per-minute limit is full: a finished call's real count (usually below its
# estimate) frees tokens at any moment, in any worker, and only this process's own calls would wake it otherwise
# (measured: 100 stories' last calls waited a whole window's expiry, or their process's own answers, not the first
# answers anywhere).
TPM_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Limits:
    rpm: int = 0  # 0 = no limit
    tpm: int = 0
    concurrency: int = 0
    window: float = 60.0
    lease_seconds: float = 120.0  # a call's concurrency slot is freed after this if its process died

    @property
    def horizon(self) -> float:
        return self.window + MARGIN_SECONDS

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            rpm=max(0, int(settings.QAFORGE_LLM_RPM or 0)),
            tpm=max(0, int(settings.QAFORGE_LLM_TPM or 0)),
            concurrency=max(0, int(settings.QAFORGE_LLM_CONCURRENCY or 0)),
            window=float(settings.QAFORGE_LLM_RATE_WINDOW_SECONDS or 60),
            lease_seconds=float(settings.QAFORGE_LLM_TIMEOUT_SECONDS or 90) + 30,
        )


def decide(
    now: float, window: list[tuple[float, int]], busy: int, paused_until: float, wants: list[int], limits: Limits
) -> tuple[int, float]:
    """How many of the waiting calls (their estimated tokens, in order) may start now, and if not all, in how many
    seconds to ask again. `window`: (granted at, tokens) of the calls counted now, oldest first."""
    if paused_until > now:
        return 0, paused_until - now
    count, used = len(window), sum(tokens for _, tokens in window)
    granted = 0
    blocked = None
    for estimate in wants:
        if limits.rpm and count + granted >= limits.rpm:
            blocked = "rpm"
        elif limits.concurrency and busy + granted >= limits.concurrency:
            blocked = "concurrency"
        elif limits.tpm and used + estimate > limits.tpm and count + granted > 0:
            blocked = "tpm"  # (a single call larger than the whole budget still goes when nothing else counts)
        if blocked:
            break
        granted += 1
        used += estimate
    if blocked is None:
        return granted, 0.0
    if blocked == "rpm":
        oldest = count + granted - limits.rpm  # this call must leave the window before one more may start
        started = window[oldest][0] if oldest < count else now
        return granted, max(0.01, started + limits.horizon - now)
    if blocked == "tpm":
        need = used + wants[granted] - limits.tpm
        freed = 0
        for started, tokens in window:
            freed += tokens
            if freed >= need:
                return granted, max(0.01, min(started + limits.horizon - now, TPM_POLL_SECONDS))
        return granted, TPM_POLL_SECONDS
    return granted, POLL_SECONDS


@dataclass
class Exchange:
    """One round trip: what finished, what a 429 asked for, and who waits."""

    now: float
    wants: list[tuple[str, int]]  # (call id, estimated tokens), in arrival order
    done: list[tuple]  # (call id, real tokens, when its request left or None)
    pause_until: float = 0.0
    sent: list[tuple[str, float]] = field(default_factory=list)  # (call id, when its request left)

    def moves(self) -> list[tuple[str, float]]:
        """(call id, when its request left) for every call whose start moves to that moment."""
        return [(call_id, at) for call_id, at in self.sent if at] + [
            (call_id, rest[0]) for call_id, _, *rest in self.done if rest and rest[0]
        ]


# --- Stores -------------------------------------------------------------------------------------------------------


class MemoryStore:
    """This process only: for the pure engine's tests and for a single process without a database."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, list] = {}  # id -> [granted at, tokens, busy until or None]
        self.paused_until = 0.0

    def exchange(self, ex: Exchange, limits: Limits) -> tuple[int, float]:
        with self.lock:
            for call_id, at in ex.moves():
                if call_id in self.calls:
                    self.calls[call_id][0] = max(self.calls[call_id][0], at)
            for call_id, tokens, *_ in ex.done:
                if call_id in self.calls:
                    self.calls[call_id][1:] = [tokens, None]
            self.paused_until = max(self.paused_until, ex.pause_until)
            for call_id, (started, _, busy) in list(self.calls.items()):
                if started < ex.now - limits.horizon and (busy is None or busy < ex.now):
                    del self.calls[call_id]
            if not ex.wants:
                return 0, 0.0
            window = sorted((c[0], c[1]) for c in self.calls.values() if c[0] >= ex.now - limits.horizon)
            busy = sum(1 for c in self.calls.values() if c[2] is not None and c[2] > ex.now)
            granted, retry = decide(ex.now, window, busy, self.paused_until, [t for _, t in ex.wants], limits)
            for call_id, tokens in ex.wants[:granted]:
                self.calls[call_id] = [ex.now, tokens, ex.now + limits.lease_seconds]
            return granted, retry


class DatabaseStore:
    """One row per call in the window; the single state row is the lock (SQLite's IMMEDIATE transactions are one)."""

    def exchange(self, ex: Exchange, limits: Limits) -> tuple[int, float]:
        from generation.models import RateLimitCall, RateLimitState

        with transaction.atomic():
            state, _ = RateLimitState.objects.select_for_update().get_or_create(pk=1)
            _update_calls(ex)
            if ex.pause_until > state.paused_until:
                state.paused_until = ex.pause_until
                state.save(update_fields=["paused_until"])
            RateLimitCall.objects.filter(started__lt=ex.now - limits.horizon).filter(
                Q(busy_until__isnull=True) | Q(busy_until__lt=ex.now)
            ).delete()
            if not ex.wants:
                return 0, 0.0
            window = list(
                RateLimitCall.objects.filter(started__gte=ex.now - limits.horizon)
                .order_by("started")
                .values_list("started", "tokens")
            )
            busy = RateLimitCall.objects.filter(busy_until__gt=ex.now).count()
            granted, retry = decide(ex.now, window, busy, state.paused_until, [t for _, t in ex.wants], limits)
            RateLimitCall.objects.bulk_create(
                RateLimitCall(id=call_id, started=ex.now, tokens=tokens, busy_until=ex.now + limits.lease_seconds)
                for call_id, tokens in ex.wants[:granted]
            )
            return granted, retry


def _update_calls(ex: Exchange) -> None:
    """Move the sent calls' starts and write the finished calls' real token counts: one prepared statement each, run
    for all their rows at once (executemany). As ORM UPDATEs with a CASE WHEN per call, building the statements cost
    more CPU than the rest of an exchange (py-spy: 4% of a sprint's cluster CPU), all of it while this transaction
    holds the lock every other worker's limiter waits for."""
    from generation.models import RateLimitCall

    moves, done = ex.moves(), [(tokens, call_id) for call_id, tokens, *_ in ex.done]
    if not moves and not done:
        return
    table, quote = RateLimitCall._meta.db_table, connection.ops.quote_name
    with connection.cursor() as cursor:
        if moves:
            cursor.executemany(
                f"UPDATE {quote(table)} SET started = CASE WHEN started < %s THEN %s ELSE started END WHERE id = %s",
                [(at, at, call_id) for call_id, at in moves],
            )
        if done:
            cursor.executemany(f"UPDATE {quote(table)} SET tokens = %s, busy_until = NULL WHERE id = %s", done)


# The same rule as decide(), atomically inside Redis. KEYS: calls (zset id -> granted at), tokens (hash id -> tokens),
# busy (zset id -> lease end), pause (string). Returns {granted, "seconds to ask again"} (a string: Lua numbers
# reach Python as integers).
_EXCHANGE_LUA = """
local now, horizon = tonumber(ARGV[1]), tonumber(ARGV[2])
local rpm, tpm, conc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local pause, lease, poll, tpm_poll = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local i = 11
for _ = 1, tonumber(ARGV[10]) do
  local ended = tonumber(ARGV[i + 1]) >= 0
  if ended then redis.call('ZREM', KEYS[3], ARGV[i]) end
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    if ended then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
    redis.call('ZADD', KEYS[1], 'GT', 'XX', tonumber(ARGV[i + 2]), ARGV[i])
  end
  i = i + 3
end
local paused = tonumber(redis.call('GET', KEYS[4]) or '0')
if pause > paused then paused = pause; redis.call('SET', KEYS[4], tostring(pause), 'EX', 3600) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. tostring(now - horizon))
for _, id in ipairs(old) do
  if not redis.call('ZSCORE', KEYS[3], id) then redis.call('ZREM', KEYS[1], id); redis.call('HDEL', KEYS[2], id) end
end
local wanted = tonumber(ARGV[i]); i = i + 1
if wanted == 0 then return {0, '0'} end
if paused > now then return {0, tostring(paused - now)} end
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], tostring(now - horizon), '+inf', 'WITHSCORES')
local starts, tokens, used = {}, {}, 0
for j = 1, #rows, 2 do
  local t = tonumber(redis.call('HGET', KEYS[2], rows[j]) or '0')
  starts[#starts + 1] = tonumber(rows[j + 1]); tokens[#tokens + 1] = t; used = used + t
end
local count, busy, granted, blocked = #starts, redis.call('ZCARD', KEYS[3]), 0, nil
for j = 1, wanted do
  local est = tonumber(ARGV[i + 2 * (j - 1) + 1])
  if rpm > 0 and count + granted >= rpm then blocked = 'rpm'
  elseif conc > 0 and busy + granted >= conc then blocked = 'conc'
  elseif tpm > 0 and used + est > tpm and count + granted > 0 then blocked = 'tpm' end
  if blocked then break end
  local id = ARGV[i + 2 * (j - 1)]
  redis.call('ZADD', KEYS[1], now, id); redis.call('HSET', KEYS[2], id, est)
  redis.call('ZADD', KEYS[3], now + lease, id)
  granted = granted + 1; used = used + est
end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], math.ceil(horizon + lease)) end
if not blocked then return {granted, '0'} end
local retry = poll
if blocked == 'rpm' then
  local oldest = count + granted - rpm + 1
  local started = now
  if oldest <= count then started = starts[oldest] end
  retry = started + horizon - now
elseif blocked == 'tpm' then
  local need = used + tonumber(ARGV[i + 2 * granted + 1]) - tpm
  local freed = 0
  retry = horizon
  for j = 1, count do
    freed = freed + tokens[j]
    if freed >= need then retry = starts[j] + horizon - now; break end
  end
  if retry > tpm_poll then retry = tpm_poll end
end
if retry < 0.01 then retry = 0.01 end
return {granted, tostring(retry)}
"""


class RedisStore:
    """The same rule in one Lua script: one round trip, atomic across every process that shares the Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        # Bounded: a frozen Redis makes calls wait a little and retry, it never hangs a worker.
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.script = self.client.register_script(_EXCHANGE_LUA)
        self.keys = [f"{prefix}:calls", f"{prefix}:tokens", f"{prefix}:busy", f"{prefix}:pause"]

    def exchange(self, ex: Exchange, limits: Limits) -> tuple[int, float]:
        args: list = [ex.now, limits.horizon, limits.rpm, limits.tpm, limits.concurrency, ex.pause_until]
        moved = dict(ex.moves())
        done = {call_id: tokens for call_id, tokens, *_ in ex.done}
        changed = list(dict.fromkeys([*moved, *done]))
        args += [limits.lease_seconds, POLL_SECONDS, TPM_POLL_SECONDS, len(changed)]
        for call_id in changed:  # tokens -1: unchanged (still in flight); moved to 0: not moved
            args += [call_id, done.get(call_id, -1), moved.get(call_id, 0.0)]
        args.append(len(ex.wants))
        for call_id, tokens in ex.wants:
            args += [call_id, tokens]
        granted, retry = self.script(keys=self.keys, args=[repr(a) if isinstance(a, float) else a for a in args])
        return int(granted), float(retry)


def store():
    """The store the settings choose: QAFORGE_LLM_LIMITER = auto (Redis if REDIS_URL, else the database) | redis |
    database | memory."""
    choice = (getattr(settings, "QAFORGE_LLM_LIMITER", "auto") or "auto").lower()
    if choice == "auto":
        choice = "redis" if settings.REDIS_URL else "database"
    if choice == "redis":
        return _redis_store(settings.REDIS_URL, f"qaforge:{settings.Q_CLUSTER['name']}:llm")
    if choice == "memory":
        return _memory_store()
    return _database_store()


@functools.cache
def _redis_store(url: str, prefix: str) -> RedisStore:
    return RedisStore(url, prefix)


@functools.cache
def _memory_store() -> MemoryStore:
    return MemoryStore()


@functools.cache
def _database_store() -> DatabaseStore:
    return DatabaseStore()
