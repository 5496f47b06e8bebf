"""Built-in :class:`~airflow_provider_bulk_uploader.engine.interfaces.APICall` implementations."""

from __future__ import annotations

from typing import Any

import httpx

from .responses import check_content_encoding, decode_json_response

__all__ = ["GetAPICall"]


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
