"""The code blocks of README.md and docs/*.md work as written (the convention is at the top of docs/index.md).

* ```` ```python ````: run, in order, in one namespace per page, with ``https://api.example.com`` pointed at a
  loopback server; README.md, docs/engine.md and docs/security.md (against a real OAuth2 server) have their
  results checked as well.
* ```` ```python dag ````: a whole DAG file, loaded with ``DagBag`` (and serialized) in a child process with a
  throwaway Airflow home: at least one DAG, no import error.
* ```` ```python no-run ````: compiled only.

docs/engine.md holds every example of the original Bulk Uploader spec verbatim (import root renamed): checked
against fingerprints recorded here, so the check needs nothing outside the repository; when the spec itself is
at ``../shared/seed/bulk-uploader-README.md`` (or ``$BULK_UPLOADER_SEED``), the fingerprints are checked
against it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
RUN, DAG, NO_RUN = "python", "python dag", "python no-run"
EXAMPLE_API = "https://api.example.com"

SEED = Path(
    os.environ.get("BULK_UPLOADER_SEED") or REPO.parent / "shared" / "seed" / "bulk-uploader-README.md"
)
# sha256 of each python block of the original spec, import root ``bulk_uploader`` spelled
# ``airflow_provider_bulk_uploader`` -> the spec's section
SEED_EXAMPLES = {
    "c9c2b279e34a31f0cab3580a35150bd602f20ec277b99d0d067fa35048ee1eab": "Basic usage",
    "fc2d15a52e52239b0456f0b6979ebc758488feb10e9fa8f4760eeadfed368666": "Ratelimit",
    "b5d1301ea754691ffca091c2c127b5f93c80bbd7fdf5149b9a7d9d1865aff2ea": "ListStore",
    "a7c88d5ef6cd176c78aaabb7cf1b56c65a63f7ed17431a006268164bd9179638": "Store protocol (DatabaseStore)",
    "a9e342ea115f65b1eac2ef9b756f387f6aabdb97dcc4af264f7155e89ac54e08": "GetAPICall",
    "d07a015d37bfd6c025c37fd6a8dc4ba74cb26b6c3a020c26e51b378fa6035767": "APICall protocol (PostAPICall)",
    "2d7bf370ae4ef27b4ed55a7bb9d129dda72970a1b0987525da2e241b9acd0fca": "loading_urls",
    "fdec61c4fc4100bc0445b38fdd2aa4fccebcb52b0b759196555bc21bf1b6b161": "id_iterator",
    "e8b0431577bb5ab4e84546b8fcea48f7769c48c6a90a366562c0f6744370b2f3": "days_intervals",
    "595e2548b2fc5b8313ff3aba912e0e6cd5d8c6bf4231c5503e37f4f37a7bef65": "HeaderAuth",
    "a47845d77c255020b331c90633ebc7201a4b54e45940efceef6e30cfe7120224": "QueryParamsAuth",
    "fb3e2a11a9384aaa3774a70647af0669c3a3579656c9ddd216b1b4bea3eb83de": "Pipeline integration example",
    "04961baa9f6be7f05c7f65ec711acdf95386150889531e7a837f574d57e6cbb7": "Custom retry policy",
    "988c36a94964da5cbde240ae37d8caf07afd9ca450cd46670d3cb0b19ea9f1f2": "Logging (basicConfig)",
    "035c9ffefa416c539be10d4b3197c70b57f08c5d8aa5fa5558ebc2237d4b54a0": "Error handling (logger)",
}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    info: str  # the fence's info string, e.g. "python dag"
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path, *infos: str) -> list[Block]:
    text = page.read_text()
    found = [
        Block(page, text.count("\n", 0, m.start()) + 1, " ".join(m.group(1).split()), m.group(2))
        for m in FENCE.finditer(text)
    ]
    return [b for b in found if not infos or b.info in infos]


def _rel(page: Path) -> str:
    return str(page.relative_to(REPO))


def _pages_with(*infos: str) -> list[Any]:
    return [pytest.param(p, id=_rel(p)) for p in PAGES if blocks(p, *infos)]


# --- every page: fences, syntax, links ---------------------------------------------------------------------


def test_docs_pages_exist():
    names = {_rel(p) for p in PAGES}
    expected = {"README.md", "docs/index.md", "docs/provider.md", "docs/intervals-and-backfills.md"}
    assert expected | {"docs/deployment.md", "docs/engine.md"} <= names
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", [pytest.param(p, id=_rel(p)) for p in PAGES])
def test_python_fences_use_a_known_info_string(page: Path):
    """A typo such as ```python norun must not silently turn a tested example into an untested one."""
    odd = [
        b.where + f" ```{b.info}"
        for b in blocks(page)
        if b.info.startswith("py") and b.info not in (RUN, DAG, NO_RUN)
    ]
    assert not odd, f"unknown python fences (use {RUN!r}, {DAG!r} or {NO_RUN!r}): {odd}"


@pytest.mark.parametrize("page", _pages_with(RUN, DAG, NO_RUN))
def test_every_python_block_compiles(page: Path):
    for block in blocks(page, RUN, DAG, NO_RUN):
        compile(block.code, block.where, "exec")


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+[ \t]+(.+?)[ \t]*$", FENCE.sub("", page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [pytest.param(p, id=_rel(p)) for p in PAGES])
def test_relative_links_point_at_files(page: Path):
    text = FENCE.sub("", page.read_text())
    broken = []
    for target in LINK.findall(text):
        path = target.split("#", 1)[0]
        if re.match(r"[a-z][a-z0-9+.-]*:", path):  # http(s), mailto ...
            continue
        path = path or page.name  # a same-page anchor
        resolved = (page.parent / path).resolve()
        anchor = target.split("#", 1)[1] if "#" in target else None
        if not resolved.exists() or (
            anchor is not None and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        ):
            broken.append(target)
    assert not broken, f"{_rel(page)}: broken links (no such file or heading): {broken}"


def test_index_links_every_page():
    index = (REPO / "docs" / "index.md").read_text()
    readme = (REPO / "README.md").read_text()
    pages = {_rel(p) for p in PAGES if p.parent == REPO / "docs" and p.name != "index.md"}
    for page in sorted(pages):
        assert f"]({Path(page).name})" in index, f"docs/index.md does not link {page}"
        assert f"]({page})" in readme, f"README.md does not link {page}"


# --- ```python blocks run -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _example_api() -> Iterator[tuple[str, list[web.Request]]]:
    """``/items/{id}`` and ``/data?start=&end=`` on 127.0.0.1, served from a thread; records every request."""
    seen: list[web.Request] = []

    async def item(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"id": int(request.match_info["id"])})

    async def data(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"start": request.query["start"], "end": request.query["end"]})

    app = web.Application()
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/data", data)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@contextlib.contextmanager
def _demo_api() -> Iterator[tuple[str, list[Any]]]:
    from airflow_provider_bulk_uploader.testing import running_demo_api

    with running_demo_api() as api:
        yield api.url, api.requests


@contextlib.contextmanager
def _oauth2_api() -> Iterator[tuple[dict[str, str], list[Any]]]:
    """A real authorization server (Authlib) and the API it protects (tests/support/oauth2_server.py) for
    docs/security.md's OAuth2 example: its token URL and API replace the example's, and its client secret is
    in ``$API_CLIENT_SECRET`` as the example reads it."""
    import tempfile

    from tests.support.oauth2 import running_oauth2_server

    with (
        tempfile.TemporaryDirectory() as logs,
        running_oauth2_server(Path(logs), expires_in=60, client_id="my-client-id") as oauth,
    ):
        saved = os.environ.get("API_CLIENT_SECRET")
        os.environ["API_CLIENT_SECRET"] = oauth.client_secret
        try:
            yield {"https://login.example.com/oauth2/token": oauth.token_url, EXAMPLE_API: oauth.api_url}, []
        finally:
            if saved is None:
                os.environ.pop("API_CLIENT_SECRET", None)
            else:
                os.environ["API_CLIENT_SECRET"] = saved


@dataclass
class Ran:
    namespace: dict[str, Any]
    printed: list[str]
    seen: list[Any]  # the requests the server received


def _check_engine_page(ran: Ran) -> None:
    # basic usage fetched 99 items under Ratelimit(5/s) into its store; the ListStore example then bound
    # `store` and `results` to a new store, into which the HeaderAuth and QueryParamsAuth examples each
    # fetched the 99 URLs again (saved_data() is the live list): every id exactly twice
    results = ran.namespace["results"]
    assert sorted(r["id"] for r in results) == sorted(list(range(1, 100)) * 2)
    items_seen = [r for r in ran.seen if r.path.startswith("/items/")]
    assert len(items_seen) == 3 * 99
    assert all(r.headers.get("Authorization") == "Bearer your_token_here" for r in items_seen[99:198])
    assert all(r.query.get("api_key") == "your_api_key" for r in items_seen[198:])
    # days_intervals printed 52 full weeks and a clipped last day; the pipeline fetched and printed 30 days
    assert ran.printed[0] == "Processing 2024-01-01 to 2024-01-08"
    assert ran.printed[51:53] == [
        "Processing 2024-12-23 to 2024-12-30",
        "Processing 2024-12-30 to 2024-12-31",
    ]
    assert ran.printed[53] == str({"start": "2024-01-01", "end": "2024-01-02"})
    data_seen = [r for r in ran.seen if r.path == "/data"]
    assert [r.query["start"] for r in data_seen][:2] == ["2024-01-01", "2024-01-02"]
    assert len(data_seen) == 30
    assert all(r.headers["Authorization"] == "Bearer token" for r in data_seen)


def _check_readme(ran: Ran) -> None:
    assert ran.printed == ["100 0 100"]  # what the example's comment promises
    assert sorted(r["id"] for r in ran.namespace["store"].saved_data()) == list(range(1, 101))
    items_seen = [r for r in ran.seen if r.path.startswith("/items/")]
    assert len(items_seen) == 100
    assert all(r.headers.get("X-API-Key") == "s3cr3t" for r in items_seen)


def _check_security_page(ran: Ran) -> None:
    assert ran.printed == ["20 0 1"]  # what the OAuth2 example's comment promises: one token for 20 requests
    assert sorted(r["id"] for r in ran.namespace["store"].saved_data()) == list(range(1, 21))


# page -> (server, checks of what its examples did); every other page: the demo API, no extra checks. A server
# yields (base URL, requests seen), or ({example URL: loopback URL}, requests seen) to replace several URLs.
PAGE_RUNS: dict[str, tuple[Callable[[], Any], Callable[[Ran], None]]] = {
    "docs/engine.md": (_example_api, _check_engine_page),
    "README.md": (_example_api, _check_readme),
    "docs/security.md": (_oauth2_api, _check_security_page),
}


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """The spec's logging example calls ``logging.basicConfig(level=DEBUG)``: undo it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.integration
@pytest.mark.parametrize("page", _pages_with(RUN))
def test_runnable_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server, check = PAGE_RUNS.get(_rel(page), (_demo_api, lambda ran: None))
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    namespace: dict[str, Any] = {"__name__": f"docs_example_{page.stem}"}
    output = io.StringIO()
    with server() as (base, seen), _logging_restored(), contextlib.redirect_stdout(output):
        replacements = base if isinstance(base, dict) else {EXAMPLE_API: base}
        for block in blocks(page, RUN):
            text = block.code
            for example, loopback in replacements.items():
                text = text.replace(example, loopback)
            code = compile(text, block.where, "exec")
            try:
                exec(code, namespace)
            except Exception as exc:
                raise AssertionError(f"the example at {block.where} raised {exc!r}") from exc
    check(Ran(namespace, output.getvalue().splitlines(), list(seen)))


def test_engine_page_has_the_spec_examples():
    """Each spec example is a runnable block of docs/engine.md, so test_runnable_blocks_run runs it."""
    runnable = {hashlib.sha256(b.code.encode()).hexdigest() for b in blocks(REPO / "docs" / "engine.md", RUN)}
    missing = [name for digest, name in SEED_EXAMPLES.items() if digest not in runnable]
    assert not missing, f"docs/engine.md lacks (or changed) these examples of the original spec: {missing}"


def test_fingerprints_are_the_original_spec():
    """The fingerprints live in the repository (checked against docs/engine.md above on every run); where
    the original spec is at hand (``../shared/seed`` in the workspace, or ``$BULK_UPLOADER_SEED``) they are
    checked against it too. No skip: CI=true allows none, and a clean clone has no original."""
    assert len(SEED_EXAMPLES) == 15 and all(len(digest) == 64 for digest in SEED_EXAMPLES)
    if not SEED.exists():
        return
    seed_blocks = re.findall(r"```python\n(.*?)```", SEED.read_text(), re.S)
    digests = [
        hashlib.sha256(b.replace("bulk_uploader", "airflow_provider_bulk_uploader").encode()).hexdigest()
        for b in seed_blocks
    ]
    assert digests == list(SEED_EXAMPLES)


# --- ```python dag blocks parse -----------------------------------------------------------------------------

_DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

result = {}
for path in sys.argv[1:]:
    bag = DagBag(dag_folder=path)
    errors = {name: str(error) for name, error in bag.import_errors.items()}
    for dag in bag.dags.values():
        try:
            DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        except Exception as exc:
            errors[dag.dag_id] = f"serialization: {exc!r}"
    result[path] = {"dags": sorted(bag.dags), "errors": errors}
print("RESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def parsed_dags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every ```python dag block of every page, loaded by DagBag in one child process: {where: result}."""
    home = tmp_path_factory.mktemp("airflow-home")
    dags = home / "dags"
    dags.mkdir()
    files: dict[str, str] = {}
    for page in PAGES:
        for block in blocks(page, DAG):
            path = dags / f"{page.stem.replace('-', '_')}_line{block.line}.py"
            path.write_text(block.code)
            files[str(path)] = block.where
    if not files:
        return {}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _DAGBAG, *files],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"DagBag child failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return {files[path]: result for path, result in json.loads(lines[-1][len("RESULT ") :]).items()}


@pytest.mark.parametrize("page", _pages_with(DAG))
def test_dag_blocks_parse(page: Path, parsed_dags: dict[str, dict[str, Any]]):
    for block in blocks(page, DAG):
        result = parsed_dags[block.where]
        assert result["errors"] == {}, f"{block.where}: {result['errors']}"
        assert result["dags"], f"{block.where} defines no DAG"
