"""A real OAuth2 authorization server and the API it protects, for the client-credentials tests (issue 24).

Authlib's Flask ``AuthorizationServer`` with the ``ClientCredentialsGrant`` (``client_secret_basic`` and
``client_secret_post``) issues short-lived bearer tokens on one loopback port; a Flask API on another port
(another origin) validates them with Authlib's ``ResourceProtector`` and a ``BearerTokenValidator`` over the
same token store: an expired or revoked token gets Authlib's 401 ``invalid_token``.

Run as a child process (its DEBUG logging, which prints the tokens it issues, stays out of the test's
process): ``python -m tests.support.oauth2_server --token-port P --api-port Q --expires-in 2`` with the
client's secret in ``$OAUTH2_TEST_CLIENT_SECRET``. The test side is :mod:`tests.support.oauth2`.

Routes. Token server: ``POST /oauth/token`` (Authlib), ``GET /_stats``, ``POST /_revoke`` (revokes every
token issued so far: what an admin's "revoke" does mid-run), ``POST /_faults`` (``{"status": 429,
"retry_after": 1, "count": 2}``: the next token requests answer that). API: ``GET /items/<n>`` (protected;
answers ``{"id": n}``), ``GET /_stats``.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import secrets
import signal
import threading
import time
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class Client(ClientMixin):
    """The one registered client: may use the client-credentials grant with basic or post auth."""

    def __init__(self, client_id: str, client_secret: str, scopes: list[str]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def __repr__(self) -> str:
        return f"Client({self.client_id!r})"


class Token(TokenMixin):
    def __init__(self, client: Client, access_token: str, scope: str, expires_in: float) -> None:
        self.client = client
        self.access_token = access_token
        self.scope = scope
        self.expires_in = expires_in
        self.issued_at = time.time()
        self.revoked = False

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.client.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> float:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> None:
        return None

    def get_client(self) -> Client:
        return self.client


class State:
    """Everything both servers share and report (under one lock: werkzeug serves each request in a thread)."""

    def __init__(self, client: Client, expires_in: float) -> None:
        self.client = client
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.tokens: dict[str, Token] = {}
        self.token_requests: list[dict[str, Any]] = []  # method, status, form keys, arrival
        self.faults: list[tuple[int, float | None]] = []
        self.bearer_at_token_endpoint = 0
        self.hits: dict[int, int] = {}
        self.api_statuses: dict[int, int] = {}
        self.api_requests = 0
        self.secret_at_api = 0
        self.started = time.monotonic()

    def carries_secret(self) -> bool:
        """Whether the current request carries the client secret in any header, its URL or its body."""
        secret = self.client.client_secret
        basic = base64.b64encode(f"{self.client.client_id}:{secret}".encode()).decode()
        text = " ".join([*request.headers.values(), request.full_path, request.get_data(as_text=True)])
        return secret in text or basic in text or _quoted(secret) in text


def _quoted(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def token_app(state: State) -> Flask:
    app = Flask("oauth2_token_server")
    app.config.update(
        OAUTH2_TOKEN_EXPIRES_IN={"client_credentials": state.expires_in},
        # characters that change under URL encoding and base64, like the secret tests' tokens
        OAUTH2_ACCESS_TOKEN_GENERATOR=lambda *a, **k: (
            f"At+{secrets.token_hex(6)}/{secrets.token_urlsafe(12)}="
        ),
    )

    def query_client(client_id: str) -> Client | None:
        return state.client if client_id == state.client.client_id else None

    def save_token(token: dict[str, Any], oauth_request: Any) -> None:
        with state.lock:
            value = token["access_token"]
            state.tokens[value] = Token(state.client, value, token.get("scope", ""), token["expires_in"])

    class ClientCredentialsGrant(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)  # Authlib's default: client_secret_basic only

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(ClientCredentialsGrant)

    @app.before_request
    def record() -> Response | None:
        if request.path != "/oauth/token":
            return None
        auth = request.headers.get("Authorization", "")
        method = "client_secret_basic" if auth.lower().startswith("basic ") else "client_secret_post"
        entry = {
            "method": method,
            "at": time.monotonic() - state.started,
            "form": {k: v for k, v in request.form.items() if k != "client_secret"},
        }
        with state.lock:
            state.token_requests.append(entry)
            if auth.lower().startswith("bearer "):
                state.bearer_at_token_endpoint += 1
            fault = state.faults.pop(0) if state.faults else None
        if fault is not None:
            status, retry_after = fault
            entry["status"] = status
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            return Response(
                '{"error": "temporarily_unavailable"}', status, headers, mimetype="application/json"
            )
        return None

    @app.after_request
    def status(response: Response) -> Response:
        if request.path == "/oauth/token":
            with state.lock:
                state.token_requests[-1].setdefault("status", response.status_code)
        return response

    @app.post("/oauth/token")
    def issue_token() -> Response:
        return server.create_token_response()  # type: ignore[no-any-return]

    @app.post("/_revoke")
    def revoke_all() -> Response:
        with state.lock:
            for token in state.tokens.values():
                token.revoked = True
            return jsonify(revoked=len(state.tokens))

    @app.post("/_faults")
    def add_faults() -> Response:
        spec = request.get_json(force=True)
        with state.lock:
            state.faults.extend([(int(spec["status"]), spec.get("retry_after"))] * int(spec.get("count", 1)))
        return jsonify(ok=True)

    @app.get("/_stats")
    def stats() -> Response:
        with state.lock:
            return jsonify(
                token_requests=state.token_requests,
                issued=list(state.tokens),
                bearer_at_token_endpoint=state.bearer_at_token_endpoint,
            )

    return app


def api_app(state: State) -> Flask:
    app = Flask("oauth2_protected_api")

    class Validator(BearerTokenValidator):
        def authenticate_token(self, token_string: str) -> Token | None:
            with state.lock:
                return state.tokens.get(token_string)

    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(Validator())

    @app.before_request
    def record() -> None:
        if request.path.startswith("/_"):
            return
        with state.lock:
            state.api_requests += 1
            if state.carries_secret():
                state.secret_at_api += 1

    @app.after_request
    def status(response: Response) -> Response:
        if not request.path.startswith("/_"):
            with state.lock:
                state.api_statuses[response.status_code] = state.api_statuses.get(response.status_code, 0) + 1
        return response

    @app.get("/items/<int:n>")
    @require_oauth()
    def item(n: int) -> Response:
        with state.lock:
            state.hits[n] = state.hits.get(n, 0) + 1
        return jsonify(id=n)

    @app.get("/_stats")
    def stats() -> Response:
        with state.lock:
            return jsonify(
                hits=state.hits,
                statuses=state.api_statuses,
                requests=state.api_requests,
                secret_at_api=state.secret_at_api,
            )

    return app


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a production server offers

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # thousands of access lines would only fill the log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token-port", type=int, required=True)
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--expires-in", type=float, default=2.0)
    parser.add_argument("--client-id", default="bulk-client")
    parser.add_argument("--scopes", default="read")
    args = parser.parse_args()
    client_secret = os.environ["OAUTH2_TEST_CLIENT_SECRET"]
    expires_in: float = int(args.expires_in) if args.expires_in.is_integer() else args.expires_in
    state = State(Client(args.client_id, client_secret, args.scopes.split()), expires_in)
    servers = [
        make_server("127.0.0.1", args.token_port, token_app(state), threaded=True, request_handler=_Handler),
        make_server("127.0.0.1", args.api_port, api_app(state), threaded=True, request_handler=_Handler),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
