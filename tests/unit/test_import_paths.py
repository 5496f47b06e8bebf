"""Every old module path of the package root works in every spelling; only the moved ones warn.

* the original spec's paths (``…interfaces``, ``…iterators``): public for good, no warning;
* the 0.1 paths that moved into ``engine/``: a DeprecationWarning naming the new path, pointed at the user's
  line, on the first use in a process; then silent (cached, like any import).

A warning is emitted once per process (the module is cached after the first use), so each spelling runs in
a fresh interpreter, which uses every path once; nothing there imports Airflow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

PACKAGE = "airflow_provider_bulk_uploader"
# path under the package root -> (a name the spec or 0.1 users imported from it, the engine module holding it)
SPEC_PATHS = {
    "interfaces": ("Store", "interfaces"),
    "iterators": ("days_intervals", "iterators"),
}
MOVED_PATHS = {
    "api_calls": ("GetAPICall", "api_calls"),
    "auth": ("HeaderAuth", "auth"),
    "errors": ("FetchError", "errors"),
    "ratelimit": ("Ratelimit", "ratelimit"),
    "redaction": ("redact", "redaction"),
    "report": ("FetchReport", "report"),
    "retries": ("default_retry_policy", "retries"),
    "stores": ("ListStore", "stores"),
    "uploader": ("UploadedData", "orchestrator"),
}
USER_FILE = "<user code>"

# how a user's code reaches ``NAME`` through the old path ``OLD`` (``obj`` is what it got)
SPELLINGS = {
    "from OLD import NAME": "from {pkg}.{old} import {name} as obj",
    "import OLD; OLD.NAME": "import {pkg}.{old}\nobj = {pkg}.{old}.{name}",
    "package.OLD.NAME": "obj = {pkg}.{old}.{name}",  # the package alone was imported
    "from package import OLD": "from {pkg} import {old}\nobj = {old}.{name}",
}

_CHILD = textwrap.dedent(
    """
    import importlib, json, sys, warnings

    pkg, spelling, paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

    def use(code):
        namespace = {pkg: sys.modules[pkg]}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exec(compile(code, "<user code>", "exec"), namespace)
            except Exception as exc:
                return None, f"{type(exc).__name__}: {exc}", []
        seen = [
            {"category": w.category.__name__, "message": str(w.message), "file": w.filename, "line": w.lineno}
            for w in caught
        ]
        return namespace["obj"], None, seen

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importlib.import_module(pkg)
    on_import = [str(w.message) for w in caught if pkg in str(w.message) or pkg in w.filename]

    results = {}
    for old, (name, module, code) in paths.items():
        obj, error, first = use(code)
        expected = getattr(importlib.import_module(f"{pkg}.engine.{module}"), name)
        _, error_again, again = use(code)
        results[old] = {
            "error": error or error_again,
            "same_object": obj is expected,
            "warnings": first,
            "warnings_again": again,
        }
    print(json.dumps({"on_import": on_import, "results": results}))
    """
)


def run_child(spelling: str) -> dict[str, Any]:
    template = SPELLINGS[spelling]
    paths = {
        old: (name, module, template.format(pkg=PACKAGE, old=old, name=name))
        for old, (name, module) in {**SPEC_PATHS, **MOVED_PATHS}.items()
    }
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, PACKAGE, spelling, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=list(SPELLINGS))
def child(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, run_child(request.param)


def test_importing_the_package_warns_about_nothing(child):
    _, result = child
    assert result["on_import"] == []


@pytest.mark.parametrize("old", list(SPEC_PATHS))
def test_the_spec_paths_work_without_a_warning(child, old):
    spelling, result = child
    got = result["results"][old]
    assert got["error"] is None, (spelling, got)
    assert got["same_object"], f"{PACKAGE}.{old}.{SPEC_PATHS[old][0]} is the engine's object ({spelling})"
    assert got["warnings"] == [] and got["warnings_again"] == [], (spelling, got)


@pytest.mark.parametrize("old", list(MOVED_PATHS))
def test_the_moved_paths_work_with_one_deprecation_warning_naming_the_new_path(child, old):
    spelling, result = child
    got = result["results"][old]
    assert got["error"] is None, (spelling, got)
    assert got["same_object"], f"{PACKAGE}.{old}.{MOVED_PATHS[old][0]} is the engine's object ({spelling})"
    (warning,) = got["warnings"]
    assert warning["category"] == "DeprecationWarning"
    new = f"{PACKAGE}.engine.{MOVED_PATHS[old][1]}"
    assert f"{PACKAGE}.{old} is deprecated" in warning["message"] and new in warning["message"], warning
    # shown by Python's default filters only when attributed to the user's code: point at the line using it
    assert (warning["file"], warning["line"]) == (USER_FILE, 1), warning
    assert got["warnings_again"] == [], "cached after the first use, like any import"


def test_names_that_never_existed_still_fail():
    import airflow_provider_bulk_uploader as package

    with pytest.raises(ModuleNotFoundError):
        __import__(f"{PACKAGE}.orchestrator")  # lives only under engine/
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = package.nope  # type: ignore[attr-defined]
    assert not hasattr(package, "orchestrator")
