"""A throwaway PostgreSQL server for tests: temporary data dir, free loopback port, torn down afterwards.

Usage outside pytest::

    with throwaway_postgres() as url:      # postgresql+psycopg2://postgres@127.0.0.1:PORT/airflow
        ...

Inside pytest use :func:`postgres_url_or_skip` (a context manager that turns "no PostgreSQL binaries" into a
skip locally and into a failure under ``CI=true``), e.g. in a session-scoped fixture::

    @pytest.fixture(scope="session")
    def postgres_url():
        with postgres_url_or_skip() as url:
            yield url

Binaries are searched in ``$PG_BINDIR``, then ``PATH``, then ``/usr/lib/postgresql/<highest>/bin``
(Debian's layout: the ``postgresql`` apt package does not put ``initdb``/``pg_ctl`` on PATH).
PostgreSQL refuses to run as root, so when the tests run as root the server runs as an unprivileged
user (``$PG_RUN_AS`` or ``nobody``) through ``subprocess``'s ``user=``/``group=``; the temporary
directory is chowned to it and removed afterwards.

The server is tuned for tests, not durability (``fsync=off``, no synchronous commit), listens on
127.0.0.1 only, uses ``trust`` authentication (loopback, throwaway) and keeps its unix socket inside
its own temporary directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.ci import in_ci
from tests.support.net import free_port

__all__ = [
    "PostgresUnavailable",
    "create_database",
    "find_pg_bindir",
    "free_port",
    "in_ci",
    "postgres_url_or_skip",
    "throwaway_postgres",
]

REQUIRED = ("initdb", "pg_ctl", "postgres")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (or cannot be run here)."""


def _has_all(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(bindir, name), os.X_OK) for name in REQUIRED)


def find_pg_bindir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres, or None."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    initdb = shutil.which("initdb")
    if initdb:
        # /usr/local/bin/initdb may be a symlink into /usr/lib/postgresql/NN/bin next to pg_ctl and postgres
        candidates += [os.path.dirname(initdb), os.path.dirname(os.path.realpath(initdb))]

    def version_key(path: str) -> tuple[int, ...]:
        parts = Path(path).parent.name.split(".")
        return tuple(int(p) for p in parts if p.isdigit())

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin"]
    for candidate in candidates:
        if candidate and _has_all(candidate):
            return Path(candidate)
    return None


def _run_as_kwargs() -> dict[str, object]:
    """subprocess kwargs that drop root privileges (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    name = os.environ.get("PG_RUN_AS", "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root and user {name!r} does not exist; PostgreSQL refuses to run as root. "
            "Set PG_RUN_AS to an unprivileged user."
        ) from exc
    return {
        "user": entry.pw_uid,
        "group": entry.pw_gid,
        "extra_groups": [],
        "_uid": entry.pw_uid,
        "_gid": entry.pw_gid,
    }


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"PostgreSQL did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


@contextlib.contextmanager
def throwaway_postgres(
    dbname: str = "airflow",
    *,
    driver: str = "psycopg2",
    start_timeout: float = 60.0,
    extra_settings: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start a PostgreSQL server, create ``dbname``, yield its SQLAlchemy URL, stop and delete it.

    Raises :class:`PostgresUnavailable` when the binaries are missing.
    """
    bindir = find_pg_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in $PG_BINDIR, PATH or "
            "/usr/lib/postgresql/*/bin; install them with `apt-get install -y postgresql`"
        )
    run_as = _run_as_kwargs()
    uid, gid = run_as.pop("_uid", None), run_as.pop("_gid", None)

    # as root the server runs as another user, who must be able to reach the directory: /tmp always allows
    # that, a private $TMPDIR (e.g. under /root) may not
    parent = "/tmp" if uid is not None and os.path.isdir("/tmp") else None
    workdir = Path(tempfile.mkdtemp(prefix="bulkfetch-pg-", dir=parent))
    datadir, sockdir, logfile = workdir / "data", workdir / "sock", workdir / "postgres.log"
    sockdir.mkdir()
    if uid is not None:
        os.chown(workdir, uid, gid)  # type: ignore[arg-type]
        os.chown(sockdir, uid, gid)  # type: ignore[arg-type]

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", PGTZ="UTC", TZ="UTC")

    def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            list(args), cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, **run_as
        )
        if proc.returncode != 0:
            log = logfile.read_text(errors="replace")[-4000:] if logfile.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}"
            )
        return proc

    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(sockdir),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "64MB",
        "timezone": "UTC",
        **(extra_settings or {}),
    }
    options = " ".join(f"-c {key}={value}" for key, value in settings.items())
    started = False
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(3):  # another process may grab the free port between probe and bind
            try:
                run(
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-l",
                    str(logfile),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(int(start_timeout)),
                    "start",
                    timeout=start_timeout + 10,
                )
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                port = free_port()
                settings["port"] = str(port)
                options = " ".join(f"-c {key}={value}" for key, value in settings.items())
        started = True
        _wait_for_port(port, start_timeout)
        run(str(bindir / "postgres"), "--version")  # sanity: binary runs as the chosen user
        createdb = bindir / "createdb"
        if not os.access(createdb, os.X_OK):
            createdb = Path(shutil.which("createdb") or "")
        if createdb.name == "createdb":
            run(str(createdb), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", dbname)
        else:
            import psycopg2  # the test extra has it

            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{dbname}"')
            conn.close()
        yield f"postgresql+{driver}://postgres@127.0.0.1:{port}/{dbname}"
    finally:
        if started:
            with contextlib.suppress(Exception):
                run(str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(url: str, dbname: str) -> str:
    """Create another database on the server behind ``url``; return the URL pointing at it."""
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password, dbname="postgres"
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        conn.close()
    return parsed.set(database=dbname).render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_url_or_skip(dbname: str = "airflow", **kwargs: object) -> Iterator[str]:
    """:func:`throwaway_postgres` for pytest: skip when binaries are absent locally, fail under CI=true."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres(dbname, **kwargs))  # type: ignore[arg-type]
        except PostgresUnavailable as exc:
            if in_ci():
                pytest.fail(f"CI=true but no PostgreSQL server available: {exc}", pytrace=False)
            pytest.skip(f"no PostgreSQL server available: {exc}")
        yield url
