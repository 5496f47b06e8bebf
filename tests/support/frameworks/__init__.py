"""Real API frameworks as pagination test servers (issue 20): each runs in its own process on a loopback
free port, seeded with the same known records, started by a fixture and stopped after it.

* :mod:`.drf` — Django + Django REST framework on waitress: ``PageNumberPagination``,
  ``LimitOffsetPagination``, ``CursorPagination``;
* :mod:`.fastapi_app` — FastAPI + fastapi-pagination on uvicorn: ``Page``, ``LimitOffsetPage``,
  ``CursorPage`` (SQLAlchemy over SQLite, as its docs do it);
* :mod:`.json_server` — json-server from npm, 0.17 (``Link`` + ``X-Total-Count``) and 1.x
  (``first/prev/next/last/pages/items/data``), installed by ``.ci/run`` under ``.tools/node/``;
* :mod:`.proxy` — a recording reverse proxy in front of any of them: every request it forwarded, the most
  requests in flight at once (the fan-out seen at the server), an optional added latency.

:mod:`.servers` starts them (:func:`~.servers.framework_server`); the records are :data:`RECORDS` with ids
``1..RECORDS`` and ``value = id * 3``, :data:`PAGE_SIZE` a page.
"""

RECORDS = 1000
PAGE_SIZE = 30
