"""The async fetch engine: HTTP, rate limiting, retries, batching, stores, iterators.

It imports nothing from Airflow (``make lint`` enforces it with an import-linter contract) and is what the
package root re-exports as the original ``bulk_uploader`` API.
"""

from .api_calls import GetAPICall, RequestAPICall
from .auth import BasicAuth, BearerAuth, DynamicCredentialAuth, HeaderAuth, QueryParamsAuth
from .errors import (
    AuthenticationError,
    FetchError,
    GraphQLError,
    HTTPStatusError,
    InvalidJSONError,
    LongWait,
    RateLimitBackendError,
    TransportError,
)
from .interfaces import PageSource, ResumableStore, StartURL
from .iterators import days_intervals, id_iterator, loading_urls
from .oauth2 import OAuth2ClientCredentials
from .observe import NullObserver, RunObserver
from .orchestrator import UploadedData
from .pagination import (
    AutoPaginator,
    CursorPaginator,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePagePaginator,
    paginator_from,
)
from .ratelimit import Limiter, Ratelimit
from .redaction import redact, redact_url, register_secret
from .report import Failure, FetchReport, StreamReport
from .requests import Request
from .retries import default_retry_policy
from .shared_ratelimit import RedisLimiter
from .spec import FetchSpec
from .stores import JsonlFileStore, ListStore

__all__ = [
    "AuthenticationError",
    "AutoPaginator",
    "BasicAuth",
    "BearerAuth",
    "CursorPaginator",
    "DynamicCredentialAuth",
    "Failure",
    "FetchError",
    "FetchReport",
    "FetchSpec",
    "GetAPICall",
    "GraphQLError",
    "HTTPStatusError",
    "HeaderAuth",
    "HeaderCursorPaginator",
    "HeaderLinkPaginator",
    "InvalidJSONError",
    "JSONLinkPaginator",
    "JsonlFileStore",
    "Limiter",
    "ListStore",
    "LongWait",
    "NullObserver",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageSource",
    "Paginator",
    "QueryParamsAuth",
    "RateLimitBackendError",
    "Ratelimit",
    "RedisLimiter",
    "Request",
    "RequestAPICall",
    "ResumableStore",
    "RunObserver",
    "SinglePagePaginator",
    "StartURL",
    "StreamReport",
    "TransportError",
    "UploadedData",
    "days_intervals",
    "default_retry_policy",
    "id_iterator",
    "loading_urls",
    "paginator_from",
    "redact",
    "redact_url",
    "register_secret",
]
