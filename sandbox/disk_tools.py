"""Stand-ins for findmnt, growpart, resize2fs and blockdev, so hubagent's ``disk grow`` runs its real
code in the sandbox without touching this machine's disks.

The sandbox's "root disk" is a JSON file (SANDBOX_DISK_FILE): ``disk_gib`` (moto's volume size,
written before each disk-grow) and ``partition_gib`` (what growpart has grown the partition to).
Called as ``disk_tools.py TOOL ARGS`` by wrappers named after each tool; standard library only (it runs with the agent's python3).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DEVICE = "/dev/nvme0n1p1"
GIB = 1024**3


def _state() -> tuple[Path, dict[str, int]]:
    path = Path(os.environ["SANDBOX_DISK_FILE"])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    disk = int(data.get("disk_gib", 30))
    return path, {"disk_gib": disk, "partition_gib": int(data.get("partition_gib", disk))}


def main(tool: str, args: list[str]) -> int:
    path, disk = _state()
    if tool == "findmnt":
        if "--mountpoint" in args:
            print(f"{DEVICE} ext4")
            return 0
        return 1  # --source DEVICE: not mounted elsewhere
    if tool == "blockdev":
        print(disk["partition_gib"] * GIB)
        return 0
    if tool == "growpart":
        if disk["partition_gib"] >= disk["disk_gib"]:
            print(f"NOCHANGE: partition 1 is size {disk['partition_gib'] * GIB // 512}. it cannot be grown")
            return 1
        before = disk["partition_gib"]
        disk["partition_gib"] = disk["disk_gib"]
        path.write_text(json.dumps(disk), encoding="utf-8")
        print(
            f"CHANGED: partition=1 start=2048 old: size={before * GIB // 512} new: size={disk['disk_gib'] * GIB // 512}"
        )
        return 0
    if tool in ("resize2fs", "xfs_growfs", "e2fsck"):
        print(f"sandbox {tool}: the filesystem now fills {disk['partition_gib']} GiB", file=sys.stderr)
        return 0
    print(f"sandbox disk tools: {tool} is not emulated", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
