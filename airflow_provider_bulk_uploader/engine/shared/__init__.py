"""Rate budgets shared through Redis: the parts of :class:`~..shared_ratelimit.RedisLimiter`.

* :mod:`.address` — how a Redis server is named in messages (``host:port/db``, never a password);
* :mod:`.scripts` and ``lua/*.lua`` — the Lua scripts (package data, read once);
* :mod:`.strategies` — what each mode asks Redis: ``strict`` slots, a ``bucket`` (GCRA);
* :mod:`.limiter` — :class:`~.limiter.RedisLimiter`: one leader per process, coalesced releases, the
  shared pause, failures.

The public import path stays :mod:`airflow_provider_bulk_uploader.engine.shared_ratelimit` (and the
package root).
"""
