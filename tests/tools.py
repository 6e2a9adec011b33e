"""External tools some tests need (Prometheus, promtool): skip locally, fail under CI."""

from __future__ import annotations

import os
import shutil

import pytest


def require(tool: str, install: str) -> str:
    """The path of ``tool``; skips the test if missing, or fails when CI=true."""
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} is not installed; install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing tool is a failure)")
    pytest.skip(message)
