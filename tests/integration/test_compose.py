"""docker-compose.yaml + Dockerfile, validated offline (Docker cannot run here).

What is checked: the file parses (PyYAML, anchors and merge keys resolved) and, when the ``docker-compose``
v1 client is installed (``apt-get install -y docker-compose``), ``docker-compose -f docker-compose.yaml
config -q`` accepts it (schema, interpolation, depends_on conditions) and resolves the connection variables
exactly as this test does; the topology of the official Airflow 3.3 Celery file is there; everything the
example DAGs in ``dags_examples/`` reference (connections, Variables, pools, the S3 bucket, the demo API) is
provided and consistent across services; the connections are accepted by ``BulkFetchHook`` and the ``aws``
connection points at the MinIO service; the Dockerfile builds FROM apache/airflow:3.3.2 and copies only what
``.dockerignore`` lets through.

What is NOT checked (needs a Docker engine): pulling/building images, containers starting, healthchecks
passing, a DAG run on Celery. See docs/deployment.md.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.ci import in_ci

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DAGS = ROOT / "dags_examples"

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "demo-api",
    "minio",
    "minio-init",
    *AIRFLOW_COMMANDS,
}

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style interpolation with an empty environment by default (so defaults apply)."""
    env = env or {}

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(3)
        default = m.group(2)
        return env.get(name) or (default if default is not None else "")

    return _VAR.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and "services" in data
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return [interpolate(str(c)) for c in (cmd.split() if isinstance(cmd, str) else cmd)]


def airflow_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: svc for name, svc in services.items() if name.startswith("airflow-") or name == "flower"}


# -- what the example DAGs reference -------------------------------------------------------------------


def dag_requirements() -> dict[str, set[str]]:
    """Connections, Variables and pools the example DAGs use, read from their source."""
    need: dict[str, set[str]] = {"connections": set(), "variables": set(), "pools": set()}
    sources = sorted(DAGS.glob("*.py"))
    assert sources, "dags_examples/ has no DAG files"
    for path in sources:
        text = path.read_text()
        if "BulkFetchOperator" in text:
            explicit = re.findall(r"bulk_fetch_conn_id\s*=\s*[\"']([^\"'{}]+)[\"']", text)
            need["connections"] |= set(explicit) or {"bulk_fetch_default"}
        need["variables"] |= set(re.findall(r"var\.value\.get\(\s*[\"']([A-Za-z0-9_]+)[\"']", text))
        need["variables"] |= set(re.findall(r"var\.value\.([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", text))
        need["variables"] |= set(re.findall(r"Variable\.get\(\s*[\"']([A-Za-z0-9_]+)[\"']", text))
        need["pools"] |= set(re.findall(r"\bpool\s*=\s*[\"']([A-Za-z0-9_.-]+)[\"']", text)) - {"default_pool"}
        need["connections"] |= set(re.findall(r"s3://([A-Za-z0-9_]+)@", text))
        need["connections"] |= set(re.findall(r"aws_conn_id\s*=\s*[\"']([A-Za-z0-9_]+)[\"']", text))
    return need


# -- structure -----------------------------------------------------------------------------------------


def test_topology_of_the_official_celery_file(services: dict[str, Any]) -> None:
    assert set(services) >= REQUIRED_SERVICES, REQUIRED_SERVICES - set(services)
    for name, command in AIRFLOW_COMMANDS.items():
        assert " ".join(command_of(services[name])) == command, name
    env = env_of(services["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert (
        env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    )
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["_PIP_ADDITIONAL_REQUIREMENTS"] == ""  # the provider is in the image, not installed at start


def test_airflow_services_share_image_env_dags_and_secrets(services: dict[str, Any]) -> None:
    reference = env_of(services["airflow-scheduler"])
    for name, svc in airflow_services(services).items():
        assert svc.get("build", {}).get("context") == ".", f"{name} must build the repo's Dockerfile"
        assert svc["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
        assert svc["image"] == services["airflow-scheduler"]["image"], name
        env = env_of(svc)
        for key in (
            "AIRFLOW__CORE__EXECUTOR",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "AIRFLOW__API_AUTH__JWT_SECRET",  # one signing key for scheduler, api-server and workers
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW_CONN_BULK_FETCH_DEFAULT",
            "AIRFLOW_CONN_AWS_DEFAULT",
        ):
            assert env.get(key) == reference.get(key), f"{name}: {key} differs"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "JWT secret must be set for multi-container Airflow 3"
        assert "./dags_examples:/opt/airflow/dags" in svc["volumes"], name
    assert services["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"


def test_depends_on_and_volumes_are_consistent(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert spec["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} healthy but it has no healthcheck"
                )
        for volume in svc.get("volumes") or []:
            source = interpolate(volume).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name}: named volume {source} not declared"
    # no dependency cycles
    graph = {n: set(s.get("depends_on") or {}) for n, s in services.items()}
    seen: set[str] = set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"depends_on cycle: {' -> '.join((*stack, node))}"
        if node in seen:
            return
        for dep in graph[node]:
            visit(dep, (*stack, node))
        seen.add(node)

    for node in graph:
        visit(node, ())
    for name in AIRFLOW_COMMANDS:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        assert deps["minio-init"]["condition"] == "service_completed_successfully", name
        assert deps["demo-api"]["condition"] == "service_healthy", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_airflow_init_migrates_creates_admin_and_pools(services: dict[str, Any]) -> None:
    init = services["airflow-init"]
    env = env_of(init)
    assert env["_AIRFLOW_DB_MIGRATE"] == "true" and env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_USERNAME"] and env["_AIRFLOW_WWW_USER_PASSWORD"]
    script = "\n".join(command_of(init))
    assert "/entrypoint airflow version" in script  # the image entrypoint migrates + creates the user here
    pools = set(re.findall(r"airflow pools set (\S+) (\d+)", script))
    assert ("bulk_fetch_api", "4") in pools
    for pool in dag_requirements()["pools"]:
        assert pool in {p for p, _ in pools}, f"a DAG uses pool {pool!r}; airflow-init must create it"


# -- what the example DAGs need --------------------------------------------------------------------------


def test_every_connection_and_variable_the_dags_use_is_defined(services: dict[str, Any]) -> None:
    need = dag_requirements()
    assert "bulk_fetch_default" in need["connections"]
    for name, svc in airflow_services(services).items():
        env = env_of(svc)
        for conn_id in need["connections"] | {"aws_default"}:
            assert f"AIRFLOW_CONN_{conn_id.upper()}" in env, f"{name}: connection {conn_id} missing"
            json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])  # the JSON form
        for var in need["variables"]:
            assert f"AIRFLOW_VAR_{var.upper()}" in env, f"{name}: Variable {var} missing"


def test_bulk_fetch_connection_reaches_the_demo_api_service(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_bulk_uploader.get_provider_info import get_provider_info

    conn = json.loads(env_of(services["airflow-worker"])["AIRFLOW_CONN_BULK_FETCH_DEFAULT"])
    assert conn["conn_type"] == "bulk_fetch"
    (declared,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "bulk_fetch"]
    assert set(conn["extra"]) <= set(declared["conn-fields"]), set(conn["extra"]) - set(
        declared["conn-fields"]
    )
    assert conn["extra"]["auth_type"] == "header" and conn["extra"]["auth_name"] == "X-API-Key"
    assert conn["extra"]["rate_limit_requests"] == 50 and conn["extra"]["rate_limit_period_seconds"] == 1

    demo = services["demo-api"]
    args = command_of(demo)
    from airflow_provider_bulk_uploader.testing.demo_api import __main__ as demo_api_cli

    opts = demo_api_cli._parser().parse_args(args)
    assert demo["entrypoint"][-1] == "airflow_provider_bulk_uploader.testing.demo_api"
    assert conn["host"] == f"http://demo-api:{opts.port}"
    assert opts.host == "0.0.0.0" and opts.allow_non_loopback  # reachable from the other containers
    assert opts.auth == conn["extra"]["auth_type"] and opts.auth_name == conn["extra"]["auth_name"]
    assert env_of(demo)["DEMO_API_TOKEN"] == conn["password"]  # same secret on both ends
    # the per-task budget fits the demo API quota: pool slots x per-task rate <= quota
    # (docs/intervals-and-backfills.md, "Scaling out")
    init_script = "\n".join(command_of(services["airflow-init"]))
    slots = int(re.search(r"airflow pools set bulk_fetch_api (\d+)", init_script).group(1))
    assert slots * conn["extra"]["rate_limit_requests"] <= opts.rate_limit

    # the provider's own hook accepts it (validation of every field, no network)
    from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook

    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", json.dumps(conn))
    settings = BulkFetchHook().get_settings()
    assert settings.base_url == "http://demo-api:8080"
    assert settings.rate_limit_requests == 50 and settings.rate_limit_period_seconds == 1


def test_demo_api_service_command_is_valid(services: dict[str, Any]) -> None:
    from airflow_provider_bulk_uploader.testing import demo_api
    from airflow_provider_bulk_uploader.testing.demo_api import __main__ as demo_api_cli

    args = demo_api_cli._parser().parse_args(command_of(services["demo-api"]))
    assert args.port == 8080 and args.rate_limit >= 1 and args.auth == "header"
    # in a container the API must listen on the container's interface (opted in), not its loopback
    assert args.host == "0.0.0.0" and args.allow_non_loopback
    demo_api.DemoAPI(
        host=args.host, port=0, rate_limit=args.rate_limit, auth=args.auth, token="t", allow_non_loopback=True
    )


def test_aws_connection_points_at_minio_and_the_bucket_exists(services: dict[str, Any]) -> None:
    env = env_of(services["airflow-worker"])
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws"
    assert aws["extra"]["endpoint_url"] == "http://minio:9000"
    minio_env = env_of(services["minio"])
    assert (aws["login"], aws["password"]) == (minio_env["MINIO_ROOT_USER"], minio_env["MINIO_ROOT_PASSWORD"])
    assert command_of(services["minio"])[:2] == ["server", "/data"]

    init = services["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    bucket = env_of(init)["BULK_FETCH_BUCKET"]
    script = "\n".join(command_of(init))
    assert "mc mb --ignore-existing" in script and "http://minio:9000" in script

    data_url = env["AIRFLOW_VAR_BULK_FETCH_DATA_URL"]
    assert data_url.startswith(f"s3://aws_default@{bucket}/"), data_url


# -- Dockerfile ------------------------------------------------------------------------------------------


def _dockerignore_admits(rel: str) -> bool:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    rules = [r for r in rules if not r.startswith("#")]
    admitted = True
    for (
        rule
    ) in rules:  # last matching rule wins, "!" re-includes (enough of Docker's semantics for this file)
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern + "/"):
            admitted = negate
    return admitted


def test_dockerfile_extends_the_official_image_and_installs_the_repo(services: dict[str, Any]) -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG AIRFLOW_IMAGE=apache/airflow:3\.3\.2$", text, re.M)
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}$", text, re.M)
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text  # never up/downgrade Airflow itself
    assert "/opt/airflow/src/airflow-provider-bulk-uploader" in text
    build = services["airflow-scheduler"]["build"]
    assert build["args"]["AIRFLOW_IMAGE"] == "apache/airflow:3.3.2"
    # every COPY source exists and survives .dockerignore
    for line in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s*$", text.replace("\\\n", " "), re.M):
        *sources, _dest = line.split()
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} missing"
            assert _dockerignore_admits(src), f"COPY source {src} is excluded by .dockerignore"
    assert not _dockerignore_admits(".venv") and not _dockerignore_admits(".git")
    # the package metadata the image installs from
    assert 'name = "airflow-provider-bulk-uploader"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.integration
def test_build_context_is_enough_to_build_the_wheel(tmp_path: Path) -> None:
    """``pip install /opt/airflow/src/...`` of the image, from only the files the Dockerfile copies."""
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not os.access(uv, os.X_OK):
        pytest.skip("uv not found (make venv installs it in .tools/bin)")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(ROOT / "pyproject.toml", ctx)
    shutil.copy(ROOT / "README.md", ctx)
    shutil.copytree(
        ROOT / "airflow_provider_bulk_uploader",
        ctx / "airflow_provider_bulk_uploader",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    proc = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ctx)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("airflow_provider_bulk_uploader-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "airflow_provider_bulk_uploader/get_provider_info.py" in names
    assert "airflow_provider_bulk_uploader/testing/demo_api/server.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "apache_airflow_provider" in zipfile.ZipFile(wheel).read(entry_points).decode()


# -- the docker-compose client's own validation -----------------------------------------------------------


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def _compose_env() -> dict[str, str]:
    # defaults only: no .env or shell variables may change what is validated
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    return {k: v for k, v in os.environ.items() if k in keep}


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    cli = _compose_cli()
    if cli is None:
        msg = "no docker-compose client (apt-get install -y docker-compose gives the v1 client)"
        if in_ci():
            pytest.fail(f"CI=true: {msg}", pytrace=False)
        pytest.skip(msg)
    return cli


def test_docker_compose_config_accepts_the_file(compose_cli: list[str]) -> None:
    proc = subprocess.run(
        [*compose_cli, "-f", str(COMPOSE), "--project-directory", str(ROOT), "config", "-q"],
        cwd=ROOT,
        env=_compose_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docker_compose_resolves_connections_like_this_test(compose_cli: list[str], services: dict) -> None:
    proc = subprocess.run(
        [*compose_cli, "-f", str(COMPOSE), "--project-directory", str(ROOT), "config"],
        cwd=ROOT,
        env=_compose_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)["services"]
    assert set(resolved) == set(services)
    for name in AIRFLOW_COMMANDS:
        env = resolved[name]["environment"]
        mine = env_of(services[name])
        for key in (
            "AIRFLOW_CONN_BULK_FETCH_DEFAULT",
            "AIRFLOW_CONN_AWS_DEFAULT",
            "AIRFLOW_VAR_BULK_FETCH_DATA_URL",
        ):
            assert env[key] == mine[key], f"{name}: {key}"
            if key.startswith("AIRFLOW_CONN_"):
                json.loads(env[key])
