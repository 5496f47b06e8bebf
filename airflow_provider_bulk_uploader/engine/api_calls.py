"""Built-in :class:`~airflow_provider_bulk_uploader.engine.interfaces.APICall` implementations."""

from __future__ import annotations

from typing import Any

import httpx

from .requests import Request, check_graphql, encode_body
from .responses import check_content_encoding, decode_json_response

__all__ = ["GetAPICall", "RequestAPICall"]


class GetAPICall:
    """``GET url`` and return the parsed JSON body; raise on a non-2xx status or a non-JSON body.

    Used as ``api_call_factory=GetAPICall``, the engine recognises it and sends the request through its
    fast transport (aiohttp) instead of building one object per URL; with ``http_backend="httpx"``, or
    when used directly, it goes through the given :class:`httpx.AsyncClient`.
    """

    #: Marks this factory as one the engine may run on its fast transport.
    fast_path_method = "GET"

    def __init__(self, client: httpx.AsyncClient, url: str, retry_policy: Any = None):
        if not callable(getattr(client, "get", None)):
            raise TypeError(
                f"GetAPICall needs client=httpx.AsyncClient(...), got {type(client).__name__}; "
                "run it through UploadedData, which passes its own client"
            )
        if not isinstance(url, str):
            raise TypeError(f"GetAPICall url must be a string URL, got {type(url).__name__}")
        self.client = client
        self.url = url
        self.retry_policy = retry_policy

    async def content(self) -> Any:
        response = await self.client.get(self.url)
        check_content_encoding(response.status_code, response.headers.get, self.url)
        body = await response.aread()
        return decode_json_response(response.status_code, response.headers.get, body, self.url)

    def __repr__(self) -> str:
        from .redaction import redact_url

        return f"GetAPICall(url={redact_url(self.url)!r})"


class RequestAPICall:
    """Send one :class:`~.requests.Request` (any method, body, headers) and return the parsed JSON body;
    raise on a non-2xx status, a non-JSON body, or a GraphQL ``errors`` answer without data.

    What the engine sends a ``Request`` from ``url_maker`` with on the httpx backend (on the aiohttp fast
    path the transport sends it); usable directly as ``RequestAPICall(client, request=Request(...))``.
    ``url`` alone (the :class:`~.interfaces.APICall` form) is a ``GET``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str | None = None,
        retry_policy: Any = None,
        *,
        request: Request | None = None,
        extensions: dict[str, Any] | None = None,
    ):
        if not callable(getattr(client, "request", None)):
            raise TypeError(
                f"RequestAPICall needs client=httpx.AsyncClient(...), got {type(client).__name__}"
            )
        if request is None:
            if not isinstance(url, str):
                raise TypeError("RequestAPICall needs url= (a string) or request= (a Request)")
            request = Request(url)
        self.client = client
        self.request = request
        self.url = request.url
        self.retry_policy = retry_policy
        self.extensions = extensions

    async def content(self) -> Any:
        request = self.request
        body, content_type = encode_body(request)
        headers = dict(request.headers)
        if content_type is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        response = await self.client.request(
            request.method,
            request.url,
            content=body,
            headers=headers or None,
            extensions=self.extensions,
        )
        self.response_headers = response.headers
        check_content_encoding(response.status_code, response.headers.get, request.url, request.method)
        raw = await response.aread()
        data = decode_json_response(
            response.status_code, response.headers.get, raw, request.url, request.method
        )
        return check_graphql(request, data) if request.is_graphql else data

    def __repr__(self) -> str:
        return f"RequestAPICall({self.request!r})"
