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
#: A shared budget's burst when ``Ratelimit(burst=None)``: the in-process default, or, when more, as many as
#: the declared rate sends in this many seconds — a process takes at most the burst per round trip to Redis
#: and asks at most every ``SHARED_POLL_MIN_SECONDS`` (+ jitter + the round trip), so a smaller burst would
#: cap a process below the rate (from 200 requests per second up).
SHARED_RATE_LIMIT_BURST_SECONDS = 0.005
#: A shared limiter gives up after Redis has been unreachable this long (seconds), retrying meanwhile;
#: counted from the start of the first call that got no answer.
SHARED_REDIS_RETRY_SECONDS = 15.0
#: Seconds one call to Redis may take before a shared limiter counts it failed: every script call is bounded
#: by it (whatever the client: redis-py 5 sets no socket timeout by default), and it is the socket timeout
#: of the clients the engine (from a URL) and the hook build.
SHARED_REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
#: Seconds to open a connection to Redis, for the clients the engine (from a URL) and the hook build.
SHARED_REDIS_CONNECT_TIMEOUT_SECONDS = 5.0
#: Prefix of every Redis key a shared limiter writes (``<prefix>{<rate_limit_key>}:...``).
SHARED_KEY_PREFIX = "bulkfetch:ratelimit:"
#: Connections per ``httpx.AsyncClient`` on the httpx path. httpcore scans its whole pool on every
#: request (measured: 1.5 ms CPU/request at 4 connections, 4.4 ms at 64), so many small pools beat one big.
HTTPX_CONNECTIONS_PER_CLIENT = 8

#: OAuth2 client credentials: how the client authenticates at the token endpoint (RFC 6749 §2.3.1).
OAUTH2_TOKEN_AUTH_METHODS: tuple[Literal["client_secret_basic", "client_secret_post"], ...] = (
    "client_secret_basic",
    "client_secret_post",
)
OAUTH2_TOKEN_AUTH_METHOD: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
#: An access token is renewed this many seconds before its ``expires_in`` runs out, or this fraction of its
#: lifetime when that is shorter (a 2 s token is renewed 0.2 s early, a 1 h one 60 s early).
OAUTH2_REFRESH_MARGIN_SECONDS = 60.0
OAUTH2_REFRESH_MARGIN_FRACTION = 0.1
#: Tries at the token endpoint before the run fails (5xx, dropped connections; a 429/503 waits its
#: Retry-After, capped at ``MAX_RETRY_AFTER_SECONDS``); other 4xx fail at once.
OAUTH2_TOKEN_MAX_ATTEMPTS = 5
#: The method of a request when none is given.
HTTP_METHOD = "GET"
#: Ids per request of a batch lookup (``ids_per_request``; 1: one id per request, as without batching).
IDS_PER_REQUEST = 1
#: The largest ``ids_per_request`` accepted (a typo such as 10**6 would build one huge request).
MAX_IDS_PER_REQUEST = 10_000
#: What joins a request's ids in ``{ids}`` inside a string (query parameter, path, body text).
IDS_SEPARATOR = ","
#: ``join`` (``ids=1,2,3``) or ``repeat`` (a query parameter ``"{ids}"`` once per id: ``id=1&id=2``).
IDS_STYLES: tuple[str, ...] = ("join", "repeat")
IDS_STYLE = "join"

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
#: ``auto``: how APIs name the query parameters of a page number, an offset and a page size (read from the
#: next or last link to learn an endpoint's own names).
AUTO_PAGE_PARAMS = ("page", "_page", "p", "page_number", "pageNumber")
AUTO_OFFSET_PARAMS = ("offset", "_start", "start", "skip")
AUTO_LIMIT_PARAMS = ("limit", "_limit", "_per_page", "per_page", "page_size", "pageSize", "size")
#: ``auto`` without ``record_path``: the keys a page's records may be under, in this order (else the body's
#: only list, else nothing: every page then counts as one record).
AUTO_RECORD_PATHS = (
    "results", "items", "data", "content", "records", "value", "entries", "rows", "objects", "edges", "nodes",
    "hits",
)  # fmt: skip
#: ``auto``: follow a next link page after page even when the first page gives a total (for APIs whose
#: totals are estimates); by default a known total fans out.
AUTO_PREFER_NEXT_LINK = False

# -- completeness: what a response says about what is left (body paths, or "header:<name>") --------------
#: A total number of records: more remain while the stream has received fewer.
MORE_TOTAL_RECORDS = (
    "total", "count", "total_count", "totalCount", "total_results", "totalResults", "totalElements",
    "totalSize", "totalRecords", "total_records", "items", "meta.total", "meta.count", "meta.total_count",
    "pagination.total", "page.totalElements", "header:X-Total-Count", "header:X-Total",
)  # fmt: skip
#: A total number of pages: more remain while the stream has fetched fewer.
MORE_TOTAL_PAGES = (
    "total_pages", "totalPages", "pages", "page_count", "pageCount", "last_page", "meta.total_pages",
    "meta.last_page", "pagination.total_pages", "page.totalPages", "header:X-Total-Pages",
)  # fmt: skip
#: A flag that says more pages exist when true (``*`` is any one key, as in GraphQL's ``data.<field>``).
MORE_FLAGS = (
    "has_more", "hasMore", "more", "has_next", "hasNext", "has_next_page", "hasNextPage", "meta.has_more",
    "pagination.has_more", "pageInfo.hasNextPage", "data.*.pageInfo.hasNextPage",
)  # fmt: skip
#: A flag that says the stream is done when true (Salesforce's ``done``, Spring Data's ``last``).
DONE_FLAGS = ("done", "last", "is_last", "isLast", "last_page_reached")
#: A next page's URL, cursor or token: more remain while one is present and was not followed.
MORE_NEXT = (
    *AUTO_NEXT_URL_PATHS, *AUTO_CURSOR_PATHS[:-1], "next_page", "next_page_url", "nextPageToken",
    "next_page_token", "nextRecordsUrl", "nextLink", "links.next.href",
    "response_metadata.next_cursor", "paging.next.after", "paging.next.link",
    "header:X-Next-Cursor", "header:Next-Cursor",
)  # fmt: skip
#: Streams listed one by one in the operator's summary XCom and manifest (the totals cover all of them).
SUMMARY_STREAMS = 50

# -- metrics (the Airflow layer's utils/metrics.py, through Airflow's Stats) ------------------------------
#: Every metric's name starts with this (``bulk_fetch.requests`` ...), under Airflow's own ``statsd_prefix``.
METRICS_PREFIX = "bulk_fetch"
#: Seconds between two flushes of a task's counters to Airflow's ``Stats`` (and at the end of the run).
METRICS_FLUSH_SECONDS = 5.0
#: Request latencies sent per flush at most (a uniform sample of that interval's requests): the cost of the
#: latency timer is bounded whatever the request rate.
METRICS_LATENCY_SAMPLES = 20

# -- the "Bulk fetch budgets" page (plugins/budgets.py, engine/shared/snapshot.py) -------------------------
#: Keys a budget listing scans at most (SCAN ... COUNT 1000) before it says it is truncated.
BUDGETS_SCAN_MAX_KEYS = 100_000
#: Budgets listed at most per Redis database.
BUDGETS_MAX_LISTED = 200
#: Seconds between two refreshes of the page (its script polls the JSON endpoint).
BUDGETS_REFRESH_SECONDS = 3.0
#: Seconds one Redis call of the page may take (connect and read).
BUDGETS_REDIS_TIMEOUT_SECONDS = 2.0
