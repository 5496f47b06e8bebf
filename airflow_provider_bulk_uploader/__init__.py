"""airflow-provider-bulk-uploader: fetch many API records politely and land them in storage.

The names exported here are the async engine, which imports nothing from Airflow. The Airflow layer
lives in :mod:`.hooks`, :mod:`.operators` and :mod:`.storage`.
"""

from .api_calls import GetAPICall
from .auth import BasicAuth, BearerAuth, HeaderAuth, QueryParamsAuth
from .errors import FetchError, HTTPStatusError, InvalidJSONError, TransportError
from .iterators import days_intervals, id_iterator, loading_urls
from .ratelimit import Ratelimit
from .redaction import redact, redact_url, register_secret
from .report import Failure, FetchReport
from .retries import default_retry_policy
from .stores import JsonlFileStore, ListStore
from .uploader import UploadedData

__version__ = "0.1.0"

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
