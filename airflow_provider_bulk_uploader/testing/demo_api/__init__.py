"""A small, deterministic demo/test API server (aiohttp.web, loopback only).

It plays the "remote API" for tests, the example DAGs and ``make demo``: it serves JSON, enforces
its own rate limit and authentication, injects seeded faults, and records every request's arrival
time so tests can check what the *server* saw (e.g. a client-side rate limit measured at arrival).

Endpoints (``GET`` unless said; auth, rate limit and recording apply to everything except ``/_*``):

``/``                  index: ``{"service": "demo-api", "endpoints": [...]}``
``/health``            ``{"status": "ok"}``
``/items/{id}``        ``{"id": 42, "name": "item-42", "value": ...}`` for an integer id, else 404
``/records?start=ISO&end=ISO[&step=3600]``
                       one record per ``step`` seconds (aligned to the epoch) in ``[start, end)``:
                       ``[{"id": <epoch seconds>, "timestamp": "2024-01-01T00:00:00+00:00", "value": ...}]``;
                       naive datetimes and plain dates are UTC; at most ``MAX_RECORDS`` per call (else 400)
``/redirect?to=URL[&code=302]``   redirect (301/302/303/307/308) to ``URL`` (any origin)
``/status/{code}[?retry_after=V]`` respond with ``code``; ``V`` (seconds or HTTP-date) -> ``Retry-After``
``/flaky/{key}?fails=N[&status=503][&retry_after=V]``
                       the first ``N`` requests for ``key`` get ``status``, later ones 200 ``{"key": key}``
                       (also ``POST``; ``status=0``: the connection is closed after the request was read)
``/slow?ms=N``         sleep ``N`` ms (capped at 60 s) then ``{"slept_ms": N}``
``/invalid-json``      200 with ``Content-Type: application/json`` and a body that is not JSON
``/drop``              close the connection without any response (``POST``: after reading the body)
``/batch/items``       a batch lookup, ``GET ?ids=1,2,3`` or ``POST {"ids": [...]}``, at most
                       ``batch_max_ids`` ids per request (else 400): see :mod:`.batch`
``/pages/{style}``     paginated data in every style (json_link, header_link, cursor, header_cursor,
                       offset, page_number; a looping cursor, a failing page): see :mod:`.pagination`
``/_stats``            counters (``?arrivals=1`` adds the arrival list, ``?window=S`` adds ``max_in_window``)
``/_reset`` (POST)     clear arrivals, counters and the rate-limit window

Server-side behaviour, applied in this order to every non-admin request:

1. record the arrival (``time.monotonic()``), path and status;
2. auth (when a token is configured): missing credentials -> 401, wrong ones -> 403;
3. sliding-window rate limit: at most ``rate_limit`` *admitted* requests in any ``period`` seconds,
   else 429 with ``Retry-After`` (whole seconds until a slot frees up; rejected requests do not
   take a slot);
4. seeded faults on the data endpoints (``/items``, ``/records``): 503 with probability
   ``fault_rate`` and 429 (``Retry-After: fault_retry_after``) with probability ``fault_429_rate``.
   The decision is a hash of ``(seed, path+query, n-th request for it)``, so the same request
   sequence per URL gets the same faults whatever the interleaving across URLs.

Use it in-process from async tests::

    async with DemoAPI(rate_limit=50, fault_rate=0.02, token="t", seed=0) as api:
        ...  # fetch api.url + "/items/1" with header X-API-Key: t
        assert max_in_window(api.arrivals, 1.0) <= 50

from sync tests (the server runs in a background thread with its own event loop)::

    with running_demo_api(rate_limit=50) as api:
        requests.get(api.url + "/items/1")

or as a process::

    python -m airflow_provider_bulk_uploader.testing.demo_api --port 8099 --rate-limit 50 --token t

which prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT. The token can
also come from the ``DEMO_API_TOKEN`` environment variable (keeps it out of ``ps``). No access log is
written (it would print query-string tokens).
"""

from .__main__ import main
from .runner import running_demo_api
from .server import AUTH_MODES, MAX_RECORDS, DemoAPI
from .stats import RequestRecord, Stats, max_in_window

__all__ = [
    "AUTH_MODES",
    "MAX_RECORDS",
    "DemoAPI",
    "RequestRecord",
    "Stats",
    "main",
    "max_in_window",
    "running_demo_api",
]
