"""airflow-provider-bulk-uploader: fetch many API records politely and land them in storage.

The names exported here are the async engine (:mod:`.engine`), which imports nothing from Airflow. The
Airflow layer lives in :mod:`.hooks`, :mod:`.operators`, :mod:`.storage` and :mod:`.utils`.
"""

import sys as _sys

from . import engine as _engine
from .engine import (
    BasicAuth,
    BearerAuth,
    Failure,
    FetchError,
    FetchReport,
    GetAPICall,
    HeaderAuth,
    HTTPStatusError,
    InvalidJSONError,
    JsonlFileStore,
    ListStore,
    QueryParamsAuth,
    Ratelimit,
    TransportError,
    UploadedData,
    days_intervals,
    default_retry_policy,
    id_iterator,
    loading_urls,
    redact,
    redact_url,
    register_secret,
)
from .engine import (
    api_calls as _api_calls,
)
from .engine import (
    auth as _auth,
)
from .engine import (
    errors as _errors,
)
from .engine import (
    interfaces as _interfaces,
)
from .engine import (
    iterators as _iterators,
)
from .engine import (
    orchestrator as _orchestrator,
)
from .engine import (
    ratelimit as _ratelimit,
)
from .engine import (
    redaction as _redaction,
)
from .engine import (
    report as _report,
)
from .engine import (
    retries as _retries,
)
from .engine import (
    stores as _stores,
)

__version__ = "0.1.0"

# The original spec imports ``bulk_uploader.interfaces`` and ``bulk_uploader.iterators``, and 0.1 users
# imported the other engine modules from the package root: keep those paths working without a file each.
_LEGACY_MODULES = {
    "api_calls": _api_calls,
    "auth": _auth,
    "errors": _errors,
    "interfaces": _interfaces,
    "iterators": _iterators,
    "ratelimit": _ratelimit,
    "redaction": _redaction,
    "report": _report,
    "retries": _retries,
    "stores": _stores,
    "uploader": _orchestrator,
}
for _name, _module in _LEGACY_MODULES.items():
    _sys.modules.setdefault(f"{__name__}.{_name}", _module)
del _name, _module, _engine

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
