"""One validated, immutable description of a fetch: :class:`FetchSpec`.

Every setting a run needs is checked, converted and defaulted here, once (the model: httpx's ``Timeout`` and
``Limits``, normalised at construction). The Airflow layer builds one from a connection and a task's
overrides (``BulkFetchSettings.to_spec()``), ``UploadedData`` builds one from its keyword arguments, and
everything downstream — the run, its start log line, the operator's summary — reads the spec instead of a
copy of its values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from tenacity import AsyncRetrying

from . import defaults
from .observe import RunObserver
from .pagination import Paginator, SinglePagePaginator, paginator_from
from .ratelimit import Ratelimit
from .requests import METHODS
from .validation import require_bool, require_headers, require_int, require_origins, require_seconds

__all__ = ["NOT_GIVEN", "FetchSpec", "NotGiven", "RateLimitScope"]

RateLimitScope = Literal["task", "shared"]


class NotGiven:
    """The type of :data:`NOT_GIVEN`: "this argument was not passed", as opposed to ``None`` (which can mean
    "switch the setting off", e.g. a task that removes its connection's rate limit)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:  # pickles (and deep-copies) to the one instance
        return "NOT_GIVEN"


#: The default of an optional argument whose ``None`` means something.
NOT_GIVEN = NotGiven()


@dataclass(frozen=True)
class FetchSpec:
    """Every setting of one fetch, validated at construction (a bad value raises ``TypeError`` or
    ``ValueError`` naming the field and the value). Immutable: :meth:`replace` returns a changed copy,
    validated again.

    :param rate_limit: the declared quota, a :class:`~.ratelimit.Ratelimit`; ``None`` (default): no limit.
    :param rate_limit_scope: ``"task"`` (default): the run enforces the quota alone; ``"shared"``: one
        budget for every process on ``rate_limit_key`` (the run must be given a shared
        :class:`~.ratelimit.Limiter`, e.g. a :class:`~.shared_ratelimit.RedisLimiter`).
    :param rate_limit_key: the shared budget's name (``"shared"`` scope only; required there).
    :param max_concurrency: requests in flight at most (default 64, at most 4096); with a rate limit also
        capped at its ``num_requests`` (:meth:`concurrency_for`).
    :param timeout: seconds one attempt may take, connect to last byte (default 30).
    :param retry_policy: a ``tenacity.AsyncRetrying`` replacing the default policy (5 attempts; transport
        errors, 408, 429, 5xx; ``Retry-After`` honoured). ``None`` (default): the default policy.
    :param batch_size: records per ``store.add_batch`` call (default 100); with a paginator each item is a
        page, handed over once the batch's pages hold ``batch_size`` records (a page is never split).
    :param headers: extra headers sent with every request (names and values checked; default none).
    :param verify_ssl: verify TLS certificates (default ``True``; a ``bool``, not a string).
    :param progress_interval: seconds between INFO progress lines (default 10; 0 disables them).
    :param http_backend: ``"aiohttp"`` (default; fast path for the built-in GET) or ``"httpx"``.
    :param settle: with a rate limit, return only once every slot used is free again (default ``False``).
    :param max_wait: seconds; a longer pause stops the run with :class:`~.errors.LongWait` after flushing.
        ``None`` (default): every pause is waited out.
    :param paginator: ``None`` (default): one request per URL. Else a :class:`~.pagination.Paginator`, a type
        name or a dict (parsed here, once).
    :param record_path: where the records are in a body (``"."``, ``"data"`` …); ``None`` (default): each
        body is one record. Given without a paginator, each URL is a ``single_page`` stream.
    :param credential_origins: URLs whose origins may receive credentials; ``None`` (default): each
        request's own origin.
    :param method: the HTTP method URL strings from ``url_maker`` are sent with: ``"GET"`` (default),
        ``"POST"``, ``"PUT"`` or ``"PATCH"`` (a :class:`~.requests.Request` says its own).
    :param retry_non_idempotent: retry a ``POST``/``PATCH`` like a ``GET`` (on every retryable error), for
        read-only POSTs such as search and GraphQL queries. ``False`` (default): only when the server cannot
        have processed it (refused connection, 429, 503 with ``Retry-After``).
    :param observer: a :class:`~.observe.RunObserver` told of every request, retry, rejection and wait (the
        Airflow layer's metrics); ``None`` (default): none, and no call is made. A collaborator, not a
        setting: not compared, not validated beyond its methods.
    """

    rate_limit: Ratelimit | None = None
    rate_limit_scope: RateLimitScope = defaults.RATE_LIMIT_SCOPE
    rate_limit_key: str | None = None
    max_concurrency: int = defaults.MAX_CONCURRENCY
    timeout: float = defaults.TIMEOUT_SECONDS
    retry_policy: AsyncRetrying | None = field(default=None, compare=False)
    batch_size: int = defaults.BATCH_SIZE
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    verify_ssl: bool = True
    progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS
    http_backend: defaults.HttpBackend = defaults.HTTP_BACKEND
    settle: bool = False
    max_wait: float | None = None
    paginator: Paginator | None = None
    record_path: str | None = None
    credential_origins: tuple[str, ...] | None = None
    method: str = "GET"
    retry_non_idempotent: bool = False
    observer: RunObserver | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalised values are written once, here
        if self.rate_limit is not None and not isinstance(self.rate_limit, Ratelimit):
            raise TypeError(f"rate_limit must be a Ratelimit or None, got {self.rate_limit!r}")
        if self.rate_limit_scope not in defaults.RATE_LIMIT_SCOPES:
            raise ValueError(
                f"rate_limit_scope must be one of {', '.join(defaults.RATE_LIMIT_SCOPES)}, "
                f"got {self.rate_limit_scope!r}"
            )
        if self.rate_limit_scope == "shared":
            if self.rate_limit is None:
                raise ValueError(
                    "rate_limit_scope 'shared' needs a rate_limit: a shared budget needs its size"
                )
            if not isinstance(self.rate_limit_key, str) or not self.rate_limit_key:
                raise ValueError(
                    f"rate_limit_scope 'shared' needs a rate_limit_key, got {self.rate_limit_key!r}"
                )
        elif self.rate_limit_key is not None and not isinstance(self.rate_limit_key, str):
            raise TypeError(f"rate_limit_key must be a string or None, got {self.rate_limit_key!r}")
        require_int("max_concurrency", self.max_concurrency, 1, maximum=defaults.MAX_CONCURRENCY_LIMIT)
        put(self, "timeout", require_seconds("timeout", self.timeout))
        if self.retry_policy is not None and not callable(getattr(self.retry_policy, "copy", None)):
            raise TypeError(f"retry_policy must be a tenacity.AsyncRetrying, got {self.retry_policy!r}")
        require_int("batch_size", self.batch_size, 1)
        put(self, "headers", MappingProxyType(require_headers("headers", self.headers)))
        require_bool("verify_ssl", self.verify_ssl)
        put(
            self,
            "progress_interval",
            require_seconds("progress_interval", self.progress_interval, allow_zero=True),
        )
        if self.http_backend not in defaults.HTTP_BACKENDS:
            raise ValueError(
                f"http_backend must be one of {defaults.HTTP_BACKENDS}, got {self.http_backend!r}"
            )
        require_bool("settle", self.settle)
        if self.max_wait is not None:
            put(self, "max_wait", require_seconds("max_wait", self.max_wait, allow_zero=True))
        self._normalise_pagination()
        method = self.method.upper() if isinstance(self.method, str) else self.method
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        put(self, "method", method)
        require_bool("retry_non_idempotent", self.retry_non_idempotent)
        if self.observer is not None and not isinstance(self.observer, RunObserver):
            raise TypeError(
                f"observer must be a RunObserver (on_start, on_wait, on_request, on_rejection, on_retry, "
                f"on_records, on_finish) or None, got {type(self.observer).__name__}"
            )
        origins = require_origins("credential_origins", self.credential_origins)
        put(self, "credential_origins", None if origins is None else tuple(origins))

    def _normalise_pagination(self) -> None:
        record_path = self.record_path
        if record_path is not None and not isinstance(record_path, str):
            raise TypeError(f"record_path must be a dotted key path string or None, got {record_path!r}")
        paginator = paginator_from(self.paginator)
        if paginator is None and record_path is not None:
            paginator = SinglePagePaginator()
        if paginator is not None and paginator.counts_records and record_path is None:
            raise ValueError(
                f"paginator type {paginator.type!r} counts records to see an empty or short page: "
                "give record_path ('.' when each page is a JSON list, 'data' …)"
            )
        object.__setattr__(self, "paginator", paginator)

    # -- derived values: the one place each is computed -------------------------------------------------

    @classmethod
    def build(cls, **settings: Any) -> FetchSpec:
        """A spec from keyword settings, where :data:`NOT_GIVEN` means "the default" (what a caller that
        forwards optional arguments passes)."""
        return cls(**{name: value for name, value in settings.items() if value is not NOT_GIVEN})

    def replace(self, **changes: Any) -> FetchSpec:
        """A copy with ``changes`` applied (:data:`NOT_GIVEN` values ignored), validated again."""
        given = {name: value for name, value in changes.items() if value is not NOT_GIVEN}
        return dataclasses.replace(self, **given) if given else self

    @property
    def shared(self) -> bool:
        """Whether the quota is one budget shared across processes (``rate_limit_scope="shared"``)."""
        return self.rate_limit_scope == "shared"

    def concurrency_for(self, units: int | None = None) -> int:
        """Requests in flight a run really uses: ``max_concurrency``, capped at the rate limit's
        ``num_requests`` and — for an unpaginated run of a known number of ``units`` (URLs left to fetch:
        after a resume, the ones not stored yet) — at that number (at least 1)."""
        value = self.max_concurrency
        if self.rate_limit is not None:
            value = min(value, self.rate_limit.num_requests)
        if units is not None and self.paginator is None:  # a stream may have many pages: no cap by count
            value = max(1, min(value, units))
        return value

    def describe_rate_limit(self) -> str:
        """E.g. ``20/1s strict``, ``20/1s strict, shared key 'api'`` or ``none`` (for log lines)."""
        if self.rate_limit is None:
            return "none"
        text = self.rate_limit.describe()
        return f"{text}, shared key {self.rate_limit_key!r}" if self.shared else text

    def describe_pacing(self) -> str:
        """E.g. ``burst 1, adaptive`` (how sends are spaced; ``""`` without a rate limit)."""
        return "" if self.rate_limit is None else self.rate_limit.describe_pacing()

    def with_origins(self, origins: Iterable[str] | None) -> FetchSpec:
        """A copy whose credentials may go to ``origins`` (``None``: each request's own origin)."""
        return self.replace(credential_origins=None if origins is None else tuple(origins))
