"""health: whether the hub answers, TLJH's version, free disk and memory, installation finished.

``ok`` says the health was measured; ``hub_ok`` says whether the hub answers. A hub that is down is a
finding, not a failure of this action, so callers read ``hub_ok`` (and ``installed``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from hubagent.errors import ActionFailed
from hubagent.hubapi import Hub
from hubagent.settings import Settings


def tljh_version(prefix: Path) -> str | None:
    """The installed the-littlest-jupyterhub version from the hub venv's metadata; None if TLJH is absent."""
    hub_env = prefix / "hub"
    if not hub_env.is_dir():
        return None
    for meta in sorted(hub_env.glob("lib/python3*/site-packages/the_littlest_jupyterhub-*.*-info")):
        match = re.match(r"the_littlest_jupyterhub-(.+)\.(?:dist|egg)-info$", meta.name)
        if match:
            return match.group(1)
    return "unknown"


def memory_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def check(settings: Settings) -> dict[str, Any]:
    hub = Hub(settings.hub_api, token=None, timeout=10)
    try:
        hub_version: str | None = hub.version()
        hub_error = None
    except ActionFailed as err:
        hub_version, hub_error = None, str(err)
    result: dict[str, Any] = {
        "changed": False,
        "hub_ok": hub_version is not None,
        "hub_version": hub_version,
        "tljh_version": tljh_version(settings.tljh_prefix),
        "installed": settings.ready_marker.exists(),
        "disk_free_bytes": shutil.disk_usage(settings.root_mount).free,
        "memory_available_bytes": memory_available(),
    }
    if hub_error:
        result["hub_error"] = hub_error
    return result
