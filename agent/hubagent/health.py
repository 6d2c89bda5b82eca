"""health: whether the hub answers, TLJH's version, free disk and memory, installation finished.

``ok`` says the health was measured; ``hub_ok`` says whether the hub answers. A hub that is down is a
finding, not a failure of this action, so callers read ``hub_ok`` (and ``installed``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
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


GIB = 1024**3


def sandbox_disk_use(disk_file: Path, root: Path) -> dict[str, Any]:
    """The sandbox's pretend root disk: its partition's size (the volume's, once grown) and, as its use,
    the bytes of the files under the sandbox's root (a participant's home, the data, the hub's database):
    what a hub's own disk would hold, not the free space of the machine the sandbox runs on."""
    try:
        disk = json.loads(disk_file.read_text(encoding="utf-8"))
        total = int(disk.get("partition_gib") or disk.get("disk_gib")) * GIB
    except (OSError, ValueError, TypeError) as err:
        raise ActionFailed(f"the sandbox's disk file {disk_file} cannot be read: {err}") from None
    used = 0
    seen: set[tuple[int, int]] = set()
    for top, _, files in os.walk(root):
        for name in files:
            try:
                entry = (Path(top) / name).lstat()
            except OSError:
                continue
            if stat.S_ISREG(entry.st_mode) and (entry.st_dev, entry.st_ino) not in seen:
                seen.add((entry.st_dev, entry.st_ino))
                used += entry.st_blocks * 512
    used = min(used, total)
    return {
        "mount": str(root),
        "total_bytes": total,
        "used_bytes": used,
        "free_bytes": total - used,
        "used_percent": _percent(used, total),
    }


def check(settings: Settings) -> dict[str, Any]:
    hub = Hub(settings.hub_api, token=None, timeout=10)
    try:
        hub_version: str | None = hub.version()
        hub_error = None
    except ActionFailed as err:
        hub_version, hub_error = None, str(err)
    disk = (
        sandbox_disk_use(settings.sandbox_disk, Path(settings.root_mount))
        if settings.sandbox_disk is not None
        else disk_use(settings.root_mount)
    )
    result: dict[str, Any] = {
        "changed": False,
        "hub_ok": hub_version is not None,
        "hub_version": hub_version,
        "tljh_version": tljh_version(settings.tljh_prefix),
        "installed": settings.ready_marker.exists(),
        "disk_free_bytes": disk["free_bytes"],
        "memory_available_bytes": memory_available(),
        "memory": memory_use(),
        "disk": disk,
    }
    if hub_error:
        result["hub_error"] = hub_error
    return result
