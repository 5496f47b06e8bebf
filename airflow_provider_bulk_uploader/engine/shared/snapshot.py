"""What a shared budget looks like in Redis right now, as a plain dict: :func:`read_budgets`.

The one module that reads a budget's key family (``bulkfetch:ratelimit:{<key>}:<part>``, see
:class:`~.strategies.KeyFamily`, the layouts at the top of ``lua/acquire.lua`` and ``lua/bucket.lua``) from
outside the limiter — for the provider's "Bulk fetch budgets" page and anyone who wants to look. When the
layout changes (e.g. the adapted rate shared in ``meta``), this module changes with it, nothing else.
Read-only (``SCAN`` and reads in one ``MULTI``, timed by Redis ``TIME``); never a client id, a grant or a
server run id in the result.

Parts read, and what they give:

* ``meta`` (hash, no TTL): ``n`` and ``last`` (µs of the last acquire) written by the scripts;
  ``declared_n``, ``declared_period_us``, ``declared_mode``, ``declared_burst`` written by
  :class:`~.limiter.RedisLimiter` when it opens (the scripts do not read them).
* ``pace`` (hash; ``lua/pace.lua``): the adaptation every process on the key shares —
  :class:`~..adaptive.AdaptiveRate`'s fields ``low``, ``ceiling``, ``below``, ``since`` (µs), ``burst``,
  ``decreases`` — and ``set_rate``/``set_burst``: the effective rate and burst are computed from them at
  Redis's ``TIME`` with the same arithmetic as the scripts (the rate climbs back while nothing is written).
* ``ready``/``held`` (strict): slots free at a time (µs), slots held until their lease ends (µs);
  ``waiting``/``wants`` (strict): processes queued for slots and how many they still want (until when).
* ``tat`` (bucket): the GCRA's theoretical arrival time (µs); the bucket holds the effective burst and
  gains a token every effective interval.
* ``pause``: the shared cool-down's end (µs); ``clients``: processes seen (µs).
* ``rejections`` (hash minute -> count, TTL one hour after the last): 429/503 answers that paused the key
  (``lua/pause.lua``) or that the adaptation was told of (``lua/adapt.lua``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .. import defaults
from ..adaptive import AdaptiveRate
from .scripts import US, reply_text

__all__ = ["PARTS", "budget_keys", "decode", "read_budget", "read_budgets"]

#: every part of a budget's key family (both modes)
PARTS = (
    "ready",
    "held",
    "owner",
    "pause",
    "meta",
    "clients",
    "waiting",
    "wants",
    "tat",
    "rejections",
    "pace",
)
#: how :func:`read_budget` reads each part it decodes (all but ``owner``, whose entries name clients)
_READS = (
    ("meta", "hash"),
    ("ready", "zset"),
    ("held", "zset"),
    ("pause", "string"),
    ("clients", "zset"),
    ("waiting", "zset"),
    ("wants", "hash"),
    ("tat", "string"),
    ("rejections", "hash"),
    ("pace", "hash"),
)
#: minutes counted in ``rejections_last_hour``
_HOUR_MINUTES = 60


def budget_keys(client: Any, *, max_scanned: int = defaults.BUDGETS_SCAN_MAX_KEYS) -> tuple[list[str], bool]:
    """The budget names found in Redis (sorted) and whether the scan stopped at ``max_scanned`` keys.

    ``client``: a synchronous ``redis.Redis``."""
    prefix = defaults.SHARED_KEY_PREFIX
    found: set[str] = set()
    scanned = 0
    cursor: Any = 0
    while True:
        cursor, names = client.scan(cursor=cursor, match=f"{prefix}{{*}}:*", count=1000)
        for raw in names:
            scanned += 1
            key = _budget_of(reply_text(raw), prefix)
            if key is not None:
                found.add(key)
        if int(cursor) == 0:
            return sorted(found), False
        if scanned >= max_scanned:
            return sorted(found), True


def read_budget(client: Any, key: str) -> dict[str, Any]:
    """One budget's state now (:func:`decode` of one ``MULTI`` of reads)."""
    base = f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:"
    pipe = client.pipeline(transaction=True)
    pipe.time()
    for part, kind in _READS:
        if kind == "hash":
            pipe.hgetall(base + part)
        elif kind == "zset":
            pipe.zrange(base + part, 0, -1, withscores=True)
        else:
            pipe.get(base + part)
    names = ("time", *(part for part, _kind in _READS))
    return decode(key, dict(zip(names, pipe.execute(), strict=True)))


def read_budgets(
    client: Any,
    *,
    max_budgets: int = defaults.BUDGETS_MAX_LISTED,
    max_scanned: int = defaults.BUDGETS_SCAN_MAX_KEYS,
) -> dict[str, Any]:
    """Every budget in the database of ``client`` (a synchronous ``redis.Redis``): ``{"budgets": [...],
    "truncated": bool}``, active budgets first, then by name; at most ``max_budgets``."""
    keys, truncated = budget_keys(client, max_scanned=max_scanned)
    if len(keys) > max_budgets:
        keys, truncated = keys[:max_budgets], True
    budgets = [read_budget(client, key) for key in keys]
    budgets.sort(key=lambda b: (not b["active"], b["key"]))
    return {"budgets": budgets, "truncated": truncated}


def decode(key: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A budget's figures from the raw replies (``time``, ``meta``, ``ready``, ``held``, ``pause``,
    ``clients``, ``waiting``, ``wants``, ``tat``, ``rejections``, ``pace``; any missing is empty). Figures
    that the state does not hold are ``None``."""
    seconds, micros = raw.get("time") or (0, 0)
    now = int(seconds) * US + int(micros)
    meta = {reply_text(k): reply_text(v) for k, v in (raw.get("meta") or {}).items()}
    ready = _scores(raw.get("ready"))
    held = _scores(raw.get("held"))
    tat = _number(raw.get("tat"))
    mode = meta.get("declared_mode") or ("bucket" if tat is not None else "strict" if ready or held else None)
    if mode is None and "n" in meta:
        mode = "strict"
    n = _int(meta.get("declared_n")) or (_int(meta.get("n")) if mode == "strict" else None)
    period_us = _int(meta.get("declared_period_us"))
    period = period_us / US if period_us else None
    burst = _int(meta.get("declared_burst"))
    pace = _pace(raw.get("pace"), n, period_us, burst, now)
    out: dict[str, Any] = {
        "key": key,
        "mode": mode,
        "num_requests": n,
        "period_seconds": period,
        "burst": burst,
        "declared_rate": round(n / period, 6) if n and period else None,
        "effective_rate": round(US / pace[0], 6) if pace else None,
        "effective_burst": pace[1] if pace else None,
        "used_in_window": None,
        "in_flight": None,
        "waiting_processes": None,
        "slots_wanted": None,
        "processes": None,
        "cooldown_until": None,
        "cooldown_seconds": 0.0,
        "rejections_last_hour": _last_hour(raw.get("rejections"), now),
        "last_used": None,
        "idle_seconds": None,
        "active": False,
        "now": _iso(now),
    }
    if mode == "strict":
        free = sum(1 for at in ready.values() if at <= now)
        out["in_flight"] = sum(1 for until in held.values() if until > now)
        if n is not None:
            out["used_in_window"] = max(0, n - free)
        waiting, wanted = 0, 0
        wants = {reply_text(k): reply_text(v) for k, v in (raw.get("wants") or {}).items()}
        for client in _scores(raw.get("waiting")):
            w, _, back = wants.get(client, "").partition(":")
            if w.isdigit() and back.isdigit() and int(back) >= now:
                waiting, wanted = waiting + 1, wanted + int(w)
        out["waiting_processes"], out["slots_wanted"] = waiting, wanted
    elif mode == "bucket" and pace:
        # GCRA: the bucket holds the effective burst, one token back every effective interval (lua/bucket.lua)
        interval, capacity = pace
        behind = max(0.0, (tat or 0) - now)
        out["used_in_window"] = min(capacity, math.ceil(behind / interval - 1e-9))
    clients = _scores(raw.get("clients"))
    if clients:
        since = now - 2 * period_us if period_us else -math.inf  # the scripts' "active processes"
        out["processes"] = sum(1 for seen in clients.values() if seen >= since)
    pause = _number(raw.get("pause"))
    if pause is not None and pause > now:
        out["cooldown_until"] = _iso(pause)
        out["cooldown_seconds"] = round((pause - now) / US, 3)
    last = _int(meta.get("last"))
    if last is not None:
        out["last_used"] = _iso(last)
        out["idle_seconds"] = round(max(0, now - last) / US, 3)
        # in use: called within the last two periods (without a period: the last minute)
        out["active"] = now - last <= (2 * period_us if period_us else 60 * US)
    if out["in_flight"] or out["waiting_processes"]:
        out["active"] = True
    return out


def _pace(
    raw: Any, n: int | None, period_us: int | None, burst: int | None, now: int
) -> tuple[float, int] | None:
    """The effective emission interval (µs) and burst at ``now`` from the ``pace`` hash, with the scripts'
    arithmetic (``lua/pace.lua``: :class:`~..adaptive.AdaptiveRate`'s, bounded by a rate set); ``None``
    without a declared quota."""
    if not n or not period_us:
        return None
    fields = {reply_text(k): _float(reply_text(v)) for k, v in (raw or {}).items()}
    declared_interval = period_us / n
    declared_burst = burst or n  # a budget written before bursts were declared: a bucket of N
    adapt = AdaptiveRate(US / declared_interval, declared_burst)
    rate, capacity = adapt.declared_rate, declared_burst
    state = [fields.get(f) for f in ("low", "ceiling", "since", "burst", "decreases")]
    if all(v is not None for v in state) and state[4]:
        low, ceiling, since, lowered_burst, decreases = (float(v) for v in state)  # type: ignore[arg-type]
        adapt.low, adapt.ceiling, adapt.since = low, ceiling, since / US
        adapt.below, adapt.burst, adapt.decreases = (
            bool(fields.get("below")),
            int(lowered_burst),
            int(decreases),
        )
        rate = adapt.rate_at(now / US)
        capacity = min(declared_burst, adapt.burst_at(now / US))
    set_rate, set_burst = fields.get("set_rate"), fields.get("set_burst")
    if set_rate is not None and set_rate > 0:
        rate = min(rate, set_rate)
    if set_burst is not None:
        capacity = min(capacity, int(set_burst))
    return max(declared_interval, US / rate), max(1, capacity)


def _budget_of(name: str, prefix: str) -> str | None:
    """``key`` of ``<prefix>{key}:<part>``, or ``None`` for a name outside the family."""
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    cut = rest.rfind("}:")
    if not rest.startswith("{") or cut < 1 or rest[cut + 2 :] not in PARTS:
        return None
    return rest[1:cut]


def _last_hour(raw: Any, now: int) -> int:
    minute = now // US // 60
    total = 0
    for field, count in (raw or {}).items():
        at = _int(reply_text(field))
        if at is not None and minute - _HOUR_MINUTES < at <= minute:
            total += _int(reply_text(count)) or 0
    return total


def _scores(raw: Any) -> dict[str, float]:
    return {reply_text(member): float(score) for member, score in (raw or [])}


def _number(value: Any) -> float | None:
    return None if value is None else _float(reply_text(value))


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _iso(micros: float) -> str:
    return datetime.fromtimestamp(micros / US, tz=timezone.utc).isoformat(timespec="milliseconds")
