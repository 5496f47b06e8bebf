"""The "Bulk fetch budgets" page: an Airflow plugin that adds a FastAPI app to the API server.

* ``GET /bulk-fetch/api/budgets`` — JSON: every shared rate budget found in the Redis connections that
  ``bulk_fetch`` connections name (``redis_conn_id``, default ``redis_default``), each decoded by
  :func:`~airflow_provider_bulk_uploader.engine.shared.snapshot.read_budgets`, with the connections that use
  it. Read-only; no credential, no Redis password, no API host.
* ``GET /bulk-fetch/budgets`` — a small self-contained page that polls the JSON every
  :data:`~..engine.defaults.BUDGETS_REFRESH_SECONDS`; listed in the UI's Admin menu (``external_views``).

Auth: Airflow 3.3 mounts a plugin's FastAPI app as it is (``airflow/api_fastapi/app.py`` ``init_plugins``:
``app.mount(url_prefix, subapp)``, no dependency added), so the app protects its routes itself, with
Airflow's own machinery: the user is resolved exactly as the core API does (``core_api/security.py``
``get_user``: a ``Authorization: Bearer`` JWT, else the UI's ``_token`` cookie, refreshed by the API server's
``JWTRefreshMiddleware``), and the auth manager decides (``is_authorized_connection(method="GET")``: the page
shows what the connections configure). Unauthenticated: 401 (the page redirects to the login page);
not allowed: 403.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any

from airflow.sdk.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.redaction import redact

__all__ = ["BulkFetchBudgetsPlugin", "app", "collect_budgets"]

URL_PREFIX = "/bulk-fetch"
PAGE_PATH = "/budgets"
API_PATH = "/api/budgets"

#: what the page says when no shared budget exists (also in the JSON, ``setup``)
SETUP = (
    "No shared rate budget found. Give a bulk_fetch connection the extras rate_limit_scope = shared, "
    "rate_limit_key = <a name shared by every connection on the same API quota> and redis_conn_id = <a redis "
    "connection> (default redis_default), with rate_limit_requests and rate_limit_period_seconds; the budget "
    "appears here once a task has used it. See docs/scaling.md and docs/observability.md."
)


async def current_user(request: Request) -> Any:
    """The user of this request, resolved by Airflow's own ``get_user`` (JWT bearer, else the UI's cookie);
    ``HTTPException(401)`` when there is none."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


async def authorized_user(user: Annotated[Any, Depends(current_user)]) -> Any:
    """:func:`current_user`, allowed by the auth manager to read connections (403 otherwise)."""
    from airflow.api_fastapi.app import get_auth_manager

    if not get_auth_manager().is_authorized_connection(method="GET", user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: reading connections is needed")
    return user


app = FastAPI(
    title="Bulk fetch budgets",
    description="Shared rate budgets of the bulk_fetch connections (read-only).",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.get(API_PATH, dependencies=[Depends(authorized_user)])
def budgets_json() -> dict[str, Any]:
    """Every shared budget, the Redis connections read and the bulk_fetch connections (see the module)."""
    return collect_budgets()


@app.get(PAGE_PATH, response_class=HTMLResponse)
async def budgets_page(request: Request) -> Response:
    """The page (its script reads :func:`budgets_json`); a login redirect when nobody is logged in."""
    try:
        await authorized_user(await current_user(request))
    except HTTPException as exc:
        if exc.status_code != status.HTTP_401_UNAUTHORIZED:
            return HTMLResponse(_message(exc.detail), status_code=exc.status_code)
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=str(request.url))
        return RedirectResponse(login, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    return HTMLResponse(_page(), headers={"Cache-Control": "no-store"})


def collect_budgets() -> dict[str, Any]:
    """The JSON of ``GET /bulk-fetch/api/budgets``: ``budgets`` (each with ``redis_conn_id`` and the
    ``connections`` on its key), ``redis`` (each Redis read: id, address, error), ``connections`` (every
    bulk_fetch connection's budget settings), ``refresh_seconds`` and, when no budget exists, ``setup``."""
    from airflow_provider_bulk_uploader.engine.shared.snapshot import read_budgets
    from airflow_provider_bulk_uploader.plugins._sources import bulk_fetch_connections, redis_sources

    connections = bulk_fetch_connections()
    by_key: dict[tuple[str | None, str], list[str]] = {}
    for conn in connections:
        if conn.shared:
            by_key.setdefault((conn.redis_conn_id, conn.rate_limit_key), []).append(conn.conn_id)
    budgets: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    for source in redis_sources(connections):
        server: dict[str, Any] = {
            "redis_conn_id": source.redis_conn_id,
            "address": source.address,
            "used_by": source.used_by,
            "error": source.error,
            "truncated": False,
        }
        servers.append(server)
        if source.error is not None:
            continue
        try:
            client = source.client()
            try:
                found = read_budgets(client)
            finally:
                client.close()
        except Exception as exc:
            server["error"] = redact(f"{type(exc).__name__}: {exc}")
            continue
        server["truncated"] = found["truncated"]
        for budget in found["budgets"]:
            budget["redis_conn_id"] = source.redis_conn_id
            budget["connections"] = by_key.get((source.redis_conn_id, budget["key"]), [])
            budgets.append(budget)
    budgets.sort(key=lambda b: (not b["active"], b["key"], b["redis_conn_id"]))
    out: dict[str, Any] = {
        "budgets": budgets,
        "redis": servers,
        "connections": [c.to_dict() for c in connections],
        "refresh_seconds": defaults.BUDGETS_REFRESH_SECONDS,
    }
    if not budgets:
        out["setup"] = SETUP
    return out


def _page() -> str:
    text = files(__package__ or "airflow_provider_bulk_uploader.plugins").joinpath("budgets.html")
    return text.read_text(encoding="utf-8").replace(
        "__REFRESH_MS__", str(int(defaults.BUDGETS_REFRESH_SECONDS * 1000))
    )


def _message(text: str) -> str:
    import html

    return f"<!doctype html><title>Bulk fetch budgets</title><p>{html.escape(str(text))}</p>"


class BulkFetchBudgetsPlugin(AirflowPlugin):
    """The budget page: its FastAPI app at ``/bulk-fetch`` and a link in the UI's Admin menu."""

    name = "bulk_fetch"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Bulk fetch budgets"}]
    external_views = [
        {
            "name": "Bulk fetch budgets",
            "href": URL_PREFIX + PAGE_PATH,
            "destination": "nav",
            "category": "admin",
            "url_route": "bulk-fetch-budgets",
        }
    ]
