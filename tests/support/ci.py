"""Whether the tests run in CI, where every component must be present (a missing one fails, never skips)."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """``CI`` set to a true value (``1``, ``true``, ``yes``), as GitHub Actions and ``.ci/run`` do."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
