"""A real GraphQL server for tests and the docs: strawberry-graphql served by uvicorn on loopback, with a
Relay-style connection (``edges { cursor node }``, ``pageInfo { endCursor hasNextPage }``) — what GitHub's
GraphQL API looks like to a client walking ``repository.issues``.

Needs the test extra (``strawberry-graphql`` and ``uvicorn``); the package never imports this module, only
tests and the docs' examples do::

    with running_graphql_api(issues=1000) as api:
        api.url            # http://127.0.0.1:PORT/graphql
        api.requests       # one entry per POST: its JSON body (query and variables)

Schema (strawberry turns snake_case into camelCase)::

    type Query { repository(owner: String!, name: String!): Repository! }
    type Repository { name: String!  issues(first: Int! = 50, after: String): IssueConnection! }
    type IssueConnection { totalCount: Int!  edges: [IssueEdge!]!  pageInfo: PageInfo! }
    type IssueEdge { cursor: String!  node: Issue! }
    type Issue { id: ID!  number: Int!  title: String! }
    type PageInfo { endCursor: String  hasNextPage: Boolean! }

``first`` above :data:`MAX_FIRST` is an error (``errors`` with the message, ``data`` null), like GitHub's.
"""

import asyncio
import base64
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import strawberry
from strawberry.asgi import GraphQL

__all__ = ["MAX_FIRST", "GraphQLAPI", "running_graphql_api"]

#: The most nodes one page may ask for (``first``).
MAX_FIRST = 100


def _cursor(position: int) -> str:
    return base64.b64encode(f"cursor:{position}".encode()).decode()


def _position(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid cursor {cursor!r}") from None
    if not text.startswith("cursor:") or not text[7:].isdigit():
        raise ValueError(f"invalid cursor {cursor!r}")
    return int(text[7:])


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class Issue:
    id: strawberry.ID
    number: int
    title: str


@strawberry.type
class IssueEdge:
    cursor: str
    node: Issue


@strawberry.type
class IssueConnection:
    total_count: int
    edges: list[IssueEdge]
    page_info: PageInfo


@strawberry.type
class Repository:
    name: str
    total: strawberry.Private[int]

    @strawberry.field
    def issues(self, first: int = 50, after: str | None = None) -> IssueConnection:
        if not 1 <= first <= MAX_FIRST:
            raise ValueError(f"first must be between 1 and {MAX_FIRST}, got {first}")
        start = 0 if after is None else _position(after) + 1
        stop = min(start + first, self.total)
        edges = [
            IssueEdge(
                cursor=_cursor(i),
                node=Issue(id=strawberry.ID(f"I_{i + 1}"), number=i + 1, title=f"issue {i + 1}"),
            )
            for i in range(start, stop)
        ]
        return IssueConnection(
            total_count=self.total,
            edges=edges,
            page_info=PageInfo(
                end_cursor=edges[-1].cursor if edges else None, has_next_page=stop < self.total
            ),
        )


@strawberry.type
class Query:
    total: strawberry.Private[int]

    @strawberry.field
    def repository(self, owner: str, name: str) -> Repository:
        return Repository(name=f"{owner}/{name}", total=self.total)


class _Schema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """The errors go to the client (what the tests check), not to this process's log."""


SCHEMA = _Schema(query=Query)


@dataclass
class GraphQLAPI:
    """A running server: its ``url`` and the JSON bodies of the requests it received."""

    url: str
    requests: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def running_graphql_api(issues: int = 1000) -> Iterator[GraphQLAPI]:
    """Serve a repository with ``issues`` issues at ``http://127.0.0.1:<free port>/graphql`` from a thread;
    stopped (and the thread joined) on exit."""
    import json

    import uvicorn

    class _App(GraphQL):
        async def get_root_value(self, request: Any) -> Query:  # type: ignore[override]
            return Query(total=issues)

    graphql_app = _App(SCHEMA)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    api = GraphQLAPI(url=f"http://127.0.0.1:{port}/graphql")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await graphql_app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    with contextlib.suppress(ValueError):
                        api.requests.append(json.loads(b"".join(chunks) or b"null"))
            return message

        await graphql_app(scope, recording_receive, send)

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        for _ in range(1000):  # started within 10 s
            if server.started:
                break
            if not thread.is_alive():
                raise RuntimeError("the GraphQL server did not start")
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the GraphQL server did not start within 10 s")
        yield api
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
