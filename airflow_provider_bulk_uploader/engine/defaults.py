"""Every default of the engine and the Airflow layer, in one place (the model: httpx's ``_config``).

The engine, the hook, the operator, the storage and ``get_provider_info()`` all read these names; no other
module spells the literals. Units are in the names.
"""

from __future__ import annotations

from typing import Literal

#: Requests in flight at most.
MAX_CONCURRENCY = 64
#: The largest ``max_concurrency`` accepted: one worker and one pooled connection each (and a file
#: descriptor), so a typo like ``10**9`` fails at construction instead of eating memory.
MAX_CONCURRENCY_LIMIT = 4096
#: The longest timeout or rate-limit period accepted, in seconds (one day): larger values overflow timers.
MAX_SECONDS = 86_400.0
#: The largest number of requests per rate-limit period accepted from a connection.
MAX_RATE_LIMIT_REQUESTS = 1_000_000
#: Redirect hops followed per request, on both backends (httpx's own default would be 20).
MAX_REDIRECTS = 10
#: What both backends send as ``Accept-Encoding``: the encodings both decode without optional packages
#: (no ``br``/``zstd``: aiohttp and httpx decode those only when brotli/zstandard happen to be installed).
ACCEPT_ENCODING = "gzip, deflate"
#: Seconds one attempt may take, connect to last byte.
TIMEOUT_SECONDS = 30.0
#: Records per ``store.add_batch`` call.
BATCH_SIZE = 100
#: Seconds between INFO progress lines (0 disables them).
PROGRESS_INTERVAL_SECONDS = 10.0
#: The HTTP backends the engine can run on.
HttpBackend = Literal["aiohttp", "httpx"]
HTTP_BACKENDS: tuple[HttpBackend, ...] = ("aiohttp", "httpx")
HTTP_BACKEND: HttpBackend = "aiohttp"
#: Attempts per URL, the first included, under the default retry policy.
RETRY_MAX_ATTEMPTS = 5
#: Seconds of the default policy's exponential backoff: first wait and cap.
RETRY_INITIAL_WAIT_SECONDS = 0.5
RETRY_MAX_WAIT_SECONDS = 30.0
#: The longest ``Retry-After`` honoured, in seconds (a longer one is capped to it).
MAX_RETRY_AFTER_SECONDS = 300.0
#: Shared pause after a 429 that carried no ``Retry-After``, in seconds.
PAUSE_AFTER_429_SECONDS = 1.0
#: Window of a rate limit when only the number of requests is given, in seconds.
RATE_LIMIT_PERIOD_SECONDS = 1.0
#: Requests that may leave back to back when ``Ratelimit(burst=None)`` (capped at ``num_requests``); sustained
#: sends are paced ``period / num_requests`` apart. Chosen by measurement against nginx and HAProxy
#: (docs/rate-limits.md): a burst that only a gateway with a burst of its own accepts costs 429s elsewhere.
RATE_LIMIT_BURST = 1
#: ... or, when more, as many as the declared rate sends in this many seconds: the loop's timers wake up at
#: millisecond precision, so above 1000 requests per second sends would leave in clumps anyway — declared,
#: they leave without a timer each (what ``Ratelimit(10**6)``, "no limit", needs to cost nothing).
RATE_LIMIT_BURST_SECONDS = 0.001
#: Whether a rate limit adapts (``Ratelimit(adaptive=...)``, connection extra ``rate_limit_adaptive``).
RATE_LIMIT_ADAPTIVE = True
#: Adaptation (:mod:`.adaptive`, AIMD): a 429/503 without a when-to-come-back multiplies the pace and burst
#: by this (the AWS SDKs' adaptive mode uses 0.7) ...
ADAPTIVE_DECREASE_FACTOR = 0.7
#: ... then the pace climbs back by this share of the declared rate per second, to the rate at which the
#: rejection came (to this share below it when it came there again: the limit is there) ...
ADAPTIVE_RECOVERY_PER_SECOND = 1.0
ADAPTIVE_MARGIN = 0.05
#: ... holds there this many seconds when the limit was found so, and then probes upward by this share of the
#: declared rate per second (at once after a single rejection), up to the declared rate, never above it.
ADAPTIVE_PROBE_AFTER_SECONDS = 10.0
ADAPTIVE_PROBE_PER_SECOND = 0.1
#: The pace is never lowered below this share of the declared rate.
ADAPTIVE_MIN_RATE_FRACTION = 0.05
#: How a rate limit is enforced: ``strict`` slots (at most N arrivals in any window) or a token ``bucket``.
RATE_LIMIT_MODES: tuple[Literal["strict", "bucket"], ...] = ("strict", "bucket")
RATE_LIMIT_MODE: Literal["strict", "bucket"] = "strict"
#: Where a rate budget lives: ``task`` (in the task's process) or ``shared`` (in Redis, across processes).
RATE_LIMIT_SCOPES: tuple[Literal["task", "shared"], ...] = ("task", "shared")
RATE_LIMIT_SCOPE: Literal["task", "shared"] = "task"
#: Seconds a slot held in Redis outlives the attempt timeout before it is taken back (a dead holder).
SHARED_LEASE_MARGIN_SECONDS = 10.0
#: Bounds of a shared limiter's wait between two tries at Redis when no slot is free, in seconds: the
#: floor lets several freed slots be granted in one round trip, the cap bounds the wait on a stale hint.
SHARED_POLL_MIN_SECONDS = 0.002
SHARED_POLL_MAX_SECONDS = 0.25
#: How long after the moment a waiting process said it would ask again its reserved slots stay reserved for
#: it (seconds): fairness for a process on time, no idle budget behind one that is late.
SHARED_RESERVATION_GRACE_SECONDS = 0.005
#: A shared limiter gives up after Redis has been unreachable this long (seconds), retrying meanwhile.
SHARED_REDIS_RETRY_SECONDS = 15.0
#: Prefix of every Redis key a shared limiter writes (``<prefix>{<rate_limit_key>}:...``).
SHARED_KEY_PREFIX = "bulkfetch:ratelimit:"
#: Connections per ``httpx.AsyncClient`` on the httpx path. httpcore scans its whole pool on every
#: request (measured: 1.5 ms CPU/request at 4 connections, 4.4 ms at 64), so many small pools beat one big.
HTTPX_CONNECTIONS_PER_CLIENT = 8

# -- the Airflow layer's (plain values: reading them imports nothing from Airflow) -------------------------
#: The connection id a hook or operator uses when none is given.
CONN_ID = "bulk_fetch_default"
#: The Airflow ``redis`` connection that holds shared rate budgets (``rate_limit_scope=shared``).
REDIS_CONN_ID = "redis_default"
#: Records per part file in object storage.
RECORDS_PER_PART = 10_000
#: Cap on the JSON size of the records pushed to XCom, in bytes (1 MiB).
XCOM_MAX_BYTES = 1024 * 1024
#: Failures listed in the XCom summary (all of them go to the failure report in object storage).
SUMMARY_FAILURES = 20
#: A pause (Retry-After, quota reset, shared cool-down) longer than this many seconds makes a deferrable
#: operator checkpoint and defer to the triggerer instead of sleeping in its worker slot.
DEFER_AFTER_SECONDS = 60.0
#: With a checkpoint, buffered records older than this many seconds are written as a (smaller) part and
#: recorded, so a kill -9 loses at most about this much fetching (plus what is in flight and batched).
CHECKPOINT_EVERY_SECONDS = 60.0
#: Key of the progress checkpoint in Airflow's task state store (``context["task_state_store"]``).
PROGRESS_STATE_KEY = "bulk_fetch_progress"

# -- pagination (names as in dlt's REST client) ------------------------------------------------------------
#: ``json_link``: where the next page's URL is in the body.
NEXT_URL_PATH = "next"
#: ``header_link``: the ``rel`` of the RFC 8288 ``Link`` header entry that points to the next page.
LINKS_NEXT_KEY = "next"
#: ``cursor``: where the next cursor is in the body.
CURSOR_PATH = "cursors.next"
#: ``cursor`` / ``header_cursor``: the query parameter the cursor is sent back in.
CURSOR_PARAM = "cursor"
#: ``header_cursor``: the response header that carries the next cursor.
CURSOR_KEY = "next"
#: ``offset``: the query parameters and the first offset.
OFFSET_PARAM = "offset"
LIMIT_PARAM = "limit"
OFFSET = 0
#: ``offset``: where the total number of records is; ``page_number``: where the total number of pages is.
TOTAL_PATH = "total"
#: ``page_number``: the query parameter and the number of the first page.
PAGE_PARAM = "page"
BASE_PAGE = 0
#: ``auto``: what it looks for in the first response of a stream, in this order after the ``Link`` header.
AUTO_NEXT_URL_PATHS = ("next", "links.next", "next_url", "_links.next.href", "pagination.next", "paging.next")
AUTO_TOTAL_PAGES_PATHS = ("total_pages", "meta.total_pages", "pagination.total_pages", "page_count")
#: ``auto`` with a ``limit`` query parameter in the start URL: where a total number of records may be.
AUTO_TOTAL_RECORDS_PATHS = ("total", "meta.total", "total_count", "count")
AUTO_CURSOR_PATHS = ("next_cursor", "meta.next_cursor", "cursors.next", "pagination.next_cursor", "cursor")
AUTO_CURSOR_HEADERS = ("X-Next-Cursor", "Next-Cursor")
#: ``auto`` with a total number of pages: the query parameter and the number of the first page.
AUTO_PAGE_PARAM = "page"
AUTO_BASE_PAGE = 1
#: Streams listed one by one in the operator's summary XCom and manifest (the totals cover all of them).
SUMMARY_STREAMS = 50
