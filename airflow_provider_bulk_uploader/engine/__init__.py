"""The async fetch engine: HTTP, rate limiting, retries, batching, stores, iterators.

It imports nothing from Airflow (``make lint`` enforces it with an import-linter contract) and is what the
package root re-exports as the original ``bulk_uploader`` API.
"""

from .api_calls import GetAPICall
from .auth import BasicAuth, BearerAuth, HeaderAuth, QueryParamsAuth
from .errors import FetchError, HTTPStatusError, InvalidJSONError, LongWait, TransportError
from .iterators import days_intervals, id_iterator, loading_urls
from .orchestrator import UploadedData
from .ratelimit import Ratelimit
from .redaction import redact, redact_url, register_secret
from .report import Failure, FetchReport
from .retries import default_retry_policy
from .stores import JsonlFileStore, ListStore

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "Failure",
    "FetchError",
    "FetchReport",
    "GetAPICall",
    "HTTPStatusError",
    "HeaderAuth",
    "InvalidJSONError",
    "JsonlFileStore",
    "ListStore",
    "LongWait",
    "QueryParamsAuth",
    "Ratelimit",
    "TransportError",
    "UploadedData",
    "days_intervals",
    "default_retry_policy",
    "id_iterator",
    "loading_urls",
    "redact",
    "redact_url",
    "register_secret",
]
