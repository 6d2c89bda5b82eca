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


def _percent(used: int, total: int) -> float:
    return round(100.0 * used / total, 1) if total > 0 else 0.0


def memory_use(meminfo: Path = Path("/proc/meminfo")) -> dict[str, Any] | None:
    """Memory now, as the CloudWatch agent's mem_used_percent counts it: total minus available."""
    fields: dict[str, int] = {}
    for line in meminfo.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("MemTotal", "MemAvailable"):
            fields[name] = int(rest.split()[0]) * 1024
    if len(fields) < 2:
        return None
    total, available = fields["MemTotal"], fields["MemAvailable"]
    used = total - available
    return {
        "total_bytes": total,
        "used_bytes": used,
        "available_bytes": available,
        "used_percent": _percent(used, total),
    }


def disk_use(mount: str) -> dict[str, Any]:
    """The root file system now; used/(used+free) as df and the CloudWatch agent count it."""
    usage = shutil.disk_usage(mount)
    used = usage.total - usage.free
    return {
        "mount": mount,
        "total_bytes": usage.total,
        "used_bytes": used,
        "free_bytes": usage.free,
        "used_percent": _percent(used, used + usage.free),
    }


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
        "memory": memory_use(),
        "disk": disk_use(settings.root_mount),
    }
    if hub_error:
        result["hub_error"] = hub_error
    return result
