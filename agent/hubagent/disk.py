"""disk grow: grow the root filesystem's partition (growpart) and then the filesystem, online.

The partition and its disk come from the mount table and sysfs, so Nitro (nvme0n1p1) and Xen (xvda1)
names both work. HUBAGENT_DISK_DEVICE names an unmounted partition to grow offline instead (ext4:
e2fsck, then resize2fs): the tests use it on a loop device, where an online resize is not permitted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubagent.errors import ActionFailed
from hubagent.proc import run
from hubagent.settings import Settings

SYSFS_BLOCK = Path("/sys/class/block")
EXT = ("ext2", "ext3", "ext4")


@dataclass(frozen=True)
class Partition:
    device: str  # /dev/nvme0n1p1
    disk: str  # /dev/nvme0n1
    number: int


def split_partition_name(name: str) -> tuple[str, int]:
    """('nvme0n1p1' -> 'nvme0n1', 1), ('xvda1' -> 'xvda', 1): disks whose name ends in a digit put a
    'p' before the partition number (nvme, loop, mmcblk)."""
    match = re.fullmatch(r"([a-z]+[0-9]+(?:n[0-9]+)?)p([1-9][0-9]*)", name) or re.fullmatch(
        r"([a-z]+[a-z])([1-9][0-9]*)", name
    )
    if not match:
        raise ActionFailed(f"cannot tell the disk and partition number of {name!r}")
    return match.group(1), int(match.group(2))


def find_partition(device: str, sysfs: Path = SYSFS_BLOCK) -> Partition:
    name = Path(os.path.realpath(device)).name  # /dev/disk/by-uuid/... links resolve to the node
    entry = sysfs / name
    if (entry / "partition").is_file():
        number = int((entry / "partition").read_text().strip())
        disk = entry.resolve().parent.name  # /sys/devices/.../nvme0n1/nvme0n1p1
    else:
        disk, number = split_partition_name(name)
    return Partition(device=f"/dev/{name}", disk=f"/dev/{disk}", number=number)


def fs_commands(part: Partition, fstype: str, mountpoint: str | None) -> list[list[str]]:
    """What grows the filesystem: online when mounted at ``mountpoint``, else offline (ext only)."""
    if fstype in EXT:
        if mountpoint:
            return [["resize2fs", part.device]]
        return [["e2fsck", "-f", "-p", part.device], ["resize2fs", part.device]]
    if fstype == "xfs":
        if not mountpoint:
            raise ActionFailed(
                "an xfs filesystem grows only while mounted (xfs_growfs takes its mount point)"
            )
        return [["xfs_growfs", mountpoint]]
    raise ActionFailed(
        f"the filesystem on {part.device} is {fstype or 'unknown'}: only ext4 and xfs are grown"
    )


def growpart_command(part: Partition) -> list[str]:
    return ["growpart", part.disk, str(part.number)]


def _partition_bytes(part: Partition, sysfs: Path) -> int:
    size = sysfs / Path(part.device).name / "size"
    if size.is_file():
        return int(size.read_text().strip()) * 512
    return int(run(["blockdev", "--getsize64", part.device], what="blockdev").stdout.strip())


def _fs_bytes(part: Partition, fstype: str, mountpoint: str | None) -> int:
    if mountpoint:
        st = os.statvfs(mountpoint)
        return st.f_blocks * st.f_frsize
    if fstype in EXT:
        out = run(["dumpe2fs", "-h", part.device], what="dumpe2fs").stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return int(fields["Block count"]) * int(fields["Block size"])
    return 0


def _root_mount(mountpoint: str) -> tuple[str, str]:
    out = run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--mountpoint", mountpoint], what="findmnt").stdout
    parts = out.split()
    if len(parts) != 2:
        raise ActionFailed(f"findmnt gave no device for {mountpoint}: {out.strip()!r}")
    source = parts[0].split("[", 1)[0]  # btrfs-style subvolume suffix
    if not source.startswith("/dev/"):
        raise ActionFailed(f"{mountpoint} is mounted from {source}, not from a disk partition")
    return source, parts[1]


def _offline_device(device: str) -> tuple[str, str]:
    if run(["findmnt", "-n", "--source", device], what="findmnt", check=False).returncode == 0:
        raise ActionFailed(f"{device} is mounted: the offline grow (HUBAGENT_DISK_DEVICE) needs it unmounted")
    done = run(["blkid", "-p", "-o", "value", "-s", "TYPE", device], what="blkid", check=False)
    return device, done.stdout.strip()


def grow(settings: Settings, sysfs: Path = SYSFS_BLOCK) -> dict[str, Any]:
    if settings.disk_device:
        source, fstype = _offline_device(settings.disk_device)
        mountpoint = None
    else:
        source, fstype = _root_mount(settings.root_mount)
        mountpoint = settings.root_mount
    part = find_partition(source, sysfs)
    steps = fs_commands(part, fstype, mountpoint)  # refuses unsupported filesystems before growpart runs
    part_before = _partition_bytes(part, sysfs)
    fs_before = _fs_bytes(part, fstype, mountpoint)

    done = run(growpart_command(part), what="growpart", check=False)
    if done.returncode == 1 and "NOCHANGE" in done.stdout:
        partition_grown = False  # already as large as the disk allows
    elif done.returncode == 0:
        partition_grown = True
    else:
        raise ActionFailed(
            f"growpart {part.disk} {part.number} failed: {(done.stdout + done.stderr).strip()}"
        )

    # The filesystem step runs even when the partition was full: it converges after an interrupted grow.
    for argv in steps:
        result = run(argv, what=argv[0], check=False)
        if result.returncode > (1 if argv[0] == "e2fsck" else 0):  # e2fsck exit 1: errors corrected
            raise ActionFailed(f"{argv[0]} failed (exit {result.returncode}): {result.stderr.strip()}")
    fs_after = _fs_bytes(part, fstype, mountpoint)
    return {
        "changed": partition_grown or fs_after != fs_before,
        "device": part.disk,
        "partition": part.device,
        "partition_number": part.number,
        "filesystem": fstype,
        "mountpoint": mountpoint,
        "before_bytes": fs_before,
        "after_bytes": fs_after,
        "partition_before_bytes": part_before,
        "partition_after_bytes": _partition_bytes(part, sysfs),
    }
