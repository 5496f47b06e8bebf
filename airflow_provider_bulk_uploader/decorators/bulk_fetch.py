"""``@task.bulk_fetch``: a TaskFlow function that returns what to fetch; the operator fetches it.

The decorated function returns the ``ids`` for ``endpoint`` (a list, a ``range`` or
``{"start": a, "end": b[, "step": s]}``) or, when no ``endpoint`` is given, the URLs themselves (paths
relative to the connection's base URL, or absolute URLs on the base URL's origin: the connection's token is
never sent anywhere else). Every other decorator argument is a ``BulkFetchOperator`` argument::

    @task.bulk_fetch(endpoint="/items/{id}", store="file:///data/items", max_failures=0)
    def changed_items(ds=None) -> list[int]:
        return lookup_changed_ids(ds)

The task's XCom ``return_value`` is the operator's summary (not the function's return value).
Registered in ``get_provider_info()`` under ``task-decorators``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from airflow.sdk.bases.decorator import (
    DecoratedOperator,
    TaskDecorator,
    determine_kwargs,
    task_decorator_factory,
)
from airflow.sdk.definitions.context import Context, context_merge

from airflow_provider_bulk_uploader import redact_url
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.utils.intervals import Interval
from airflow_provider_bulk_uploader.utils.request_plan import RequestPlan
from airflow_provider_bulk_uploader.utils.urls import UrlPlan

__all__ = ["bulk_fetch_task"]

#: What ``coerce_ids`` takes as it is; any other iterable of ids is listed first.
_ID_VALUES = (str, bytes, Mapping, list, tuple, range)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class UrlList:
    """Explicit URLs as a fetch plan (``len()``, iteration and ``chunks`` like :class:`UrlPlan`).

    :param base_url: the connection's base URL; relative URLs are joined to it.
    :param urls: paths relative to ``base_url`` or absolute URLs on the same origin.
    :raises BulkFetchConfigError: for a non-string entry or an absolute URL on another origin (names the
        URL with credentials redacted).
    """

    chunks: ClassVar[list[Interval | None]] = [None]

    def __init__(self, base_url: str, urls: Iterable[Any]) -> None:
        base = base_url.rstrip("/")
        origin = _origin(base)
        resolved: list[str] = []
        for url in urls:
            if not isinstance(url, str) or not url.strip():
                raise BulkFetchConfigError(
                    f"@task.bulk_fetch without endpoint: the function must return URL strings, got {url!r}"
                )
            if "://" in url:
                if _origin(url) != origin:
                    raise BulkFetchConfigError(
                        f"@task.bulk_fetch: URL {redact_url(url)!r} is not on the connection's origin "
                        f"{redact_url(base)!r}; the connection's credentials go to that origin only"
                    )
                resolved.append(url)
            else:
                resolved.append(f"{base}/{url.lstrip('/')}")
        self.urls = resolved

    def fingerprint(self) -> str:
        """A short stable hash of the URLs in order (what a progress checkpoint is keyed by)."""
        digest = hashlib.sha256()
        for url in self.urls:
            digest.update(url.encode() + b"\n")
        return digest.hexdigest()[:32]

    def __len__(self) -> int:
        return len(self.urls)

    def __iter__(self) -> Iterator[str]:
        return iter(self.urls)


class _BulkFetchDecoratedOperator(DecoratedOperator, BulkFetchOperator):
    """Runs the decorated function, then fetches the ids or URLs it returned (see the module docstring).

    :param python_callable: the decorated function.
    :param op_args: / :param op_kwargs: its arguments (templated).
    :param endpoint: endpoint template for the returned ids; ``None`` (default): the function returns URLs.
    """

    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *BulkFetchOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **BulkFetchOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.bulk_fetch"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("ids") is not None:
            raise BulkFetchConfigError(
                f"@task.bulk_fetch: do not pass ids={kwargs['ids']!r}; the decorated function returns them"
            )
        kwargs.pop("ids", None)
        self.returns_urls = endpoint is None
        self._urls: list[Any] | None = None
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            endpoint="" if endpoint is None else endpoint,
            **kwargs,
        )

    def execute(self, context: Context) -> Any:
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        value = self.python_callable(*self.op_args, **kwargs)
        if self.returns_urls:
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise BulkFetchConfigError(
                    "@task.bulk_fetch without endpoint: the function must return a list of URLs, "
                    f"got {type(value).__name__}"
                )
            self._urls = list(value)
        else:
            if isinstance(value, Iterable) and not isinstance(value, _ID_VALUES):
                value = list(value)  # a generator or a set of ids
            self.ids = value
        return super().execute(context)

    def _plan(  # type: ignore[override]
        self, context: Mapping[str, Any], base_url: str
    ) -> tuple[UrlPlan | RequestPlan | UrlList, Interval | None]:
        if self._urls is None:
            return super()._plan(context, base_url)
        return UrlList(base_url, self._urls), self._optional_interval(context)


def bulk_fetch_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = False,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.bulk_fetch``: wrap a function returning ids (with ``endpoint``) or URLs into a bulk fetch.

    :param python_callable: the function (when used as ``@task.bulk_fetch`` without parentheses).
    :param multiple_outputs: default ``False``: the task's result is the fetch summary, whatever the
        function's return annotation says.
    :param kwargs: ``BulkFetchOperator`` arguments (``endpoint``, ``store``, ``bulk_fetch_conn_id``,
        ``max_failures``, ...) and ``BaseOperator`` arguments (``task_id``, ``outlets``, ...).
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_BulkFetchDecoratedOperator,
        **kwargs,
    )
