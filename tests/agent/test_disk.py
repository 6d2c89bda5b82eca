"""disk grow: name parsing and the online commands at the argument level, and a real grow of an
ext4 filesystem on a loop device, offline (here an online resize2fs is not permitted)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubagent import disk
from hubagent.errors import ActionFailed

from tests.agent.conftest import Agent, FakeTools

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("name", "disk_name", "number"),
    [
        ("nvme0n1p1", "nvme0n1", 1),
        ("nvme1n1p12", "nvme1n1", 12),
        ("xvda1", "xvda", 1),
        ("xvdf3", "xvdf", 3),
        ("sda2", "sda", 2),
        ("loop7p1", "loop7", 1),
        ("mmcblk0p2", "mmcblk0", 2),
    ],
)
def test_partition_names(name: str, disk_name: str, number: int) -> None:
    assert disk.split_partition_name(name) == (disk_name, number)


@pytest.mark.parametrize("name", ["nvme0n1", "xvda", "dm-0", "md0", ""])
def test_whole_disks_and_unknown_names_are_refused(name: str) -> None:
    with pytest.raises(ActionFailed):
        disk.split_partition_name(name)


def test_sysfs_is_preferred_to_name_parsing(tmp_path: Path) -> None:
    """/sys/class/block/<part> links into its disk's folder and holds the partition number."""
    devices = tmp_path / "devices" / "pci0000:00" / "nvme" / "nvme0n1"
    (devices / "nvme0n1p1").mkdir(parents=True)
    (devices / "nvme0n1p1" / "partition").write_text("1\n")
    sysfs = tmp_path / "class-block"
    sysfs.mkdir()
    (sysfs / "nvme0n1p1").symlink_to(devices / "nvme0n1p1")
    assert disk.find_partition("/dev/nvme0n1p1", sysfs) == disk.Partition("/dev/nvme0n1p1", "/dev/nvme0n1", 1)
    # without a sysfs entry, the name decides
    assert disk.find_partition("/dev/xvda1", sysfs) == disk.Partition("/dev/xvda1", "/dev/xvda", 1)


@pytest.mark.parametrize(
    ("device", "fstype", "growpart", "grow_fs"),
    [
        ("/dev/nvme0n1p1", "ext4", ["growpart", "/dev/nvme0n1", "1"], [["resize2fs", "/dev/nvme0n1p1"]]),
        ("/dev/xvda1", "ext4", ["growpart", "/dev/xvda", "1"], [["resize2fs", "/dev/xvda1"]]),
        ("/dev/nvme0n1p1", "xfs", ["growpart", "/dev/nvme0n1", "1"], [["xfs_growfs", "/"]]),
        ("/dev/xvda1", "xfs", ["growpart", "/dev/xvda", "1"], [["xfs_growfs", "/"]]),
    ],
)
def test_online_commands(
    device: str, fstype: str, growpart: list[str], grow_fs: list[list[str]], tmp_path
) -> None:
    part = disk.find_partition(device, tmp_path)
    assert disk.growpart_command(part) == growpart
    assert disk.fs_commands(part, fstype, "/") == grow_fs


def test_offline_and_unsupported_filesystems(tmp_path: Path) -> None:
    part = disk.find_partition("/dev/loop0p1", tmp_path)
    assert disk.fs_commands(part, "ext4", None) == [
        ["e2fsck", "-f", "-p", "/dev/loop0p1"],
        ["resize2fs", "/dev/loop0p1"],
    ]
    with pytest.raises(ActionFailed, match="only while mounted"):
        disk.fs_commands(part, "xfs", None)
    with pytest.raises(ActionFailed, match="only ext4 and xfs"):
        disk.fs_commands(part, "btrfs", "/")


FINDMNT = """#!/bin/sh
printf '%s\\n' "findmnt $*" >> "{log}"
echo "{source} {fstype}"
"""
BLOCKDEV = """#!/bin/sh
printf '%s\\n' "blockdev $*" >> "{log}"
echo 8589934592
"""
GROWPART = """#!/bin/sh
printf '%s\\n' "growpart $*" >> "{log}"
echo "{answer}"
exit {code}
"""


@pytest.mark.parametrize(
    ("source", "fstype", "expected"),
    [
        ("/dev/nvme0n1p1", "ext4", ["growpart /dev/nvme0n1 1", "resize2fs /dev/nvme0n1p1"]),
        ("/dev/xvda1", "xfs", ["growpart /dev/xvda 1", "xfs_growfs /"]),
    ],
)
@pytest.mark.parametrize("full", [False, True])
def test_online_grow_runs_exactly_these_commands(
    agent: Agent, fake_tools: FakeTools, source: str, fstype: str, expected: list[str], full: bool
) -> None:
    """The whole online path with stand-ins for findmnt and growpart that answer as on EC2."""
    log = fake_tools.log
    (fake_tools.bin / "findmnt").write_text(FINDMNT.format(log=log, source=source, fstype=fstype))
    answer = "NOCHANGE: partition 1 is size 16775135. it cannot be grown" if full else "CHANGED: partition=1"
    (fake_tools.bin / "growpart").write_text(GROWPART.format(log=log, answer=answer, code=1 if full else 0))
    (fake_tools.bin / "blockdev").write_text(BLOCKDEV.format(log=log))
    (fake_tools.bin / "blockdev").chmod(0o755)
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"

    ran = agent.run("disk", "grow")
    assert ran.code == 0, ran.result
    size = f"blockdev --getsize64 {source}"
    assert fake_tools.calls() == ["findmnt -n -o SOURCE,FSTYPE --mountpoint /", size, *expected, size]
    assert ran.result["partition"] == source
    assert ran.result["filesystem"] == fstype
    assert ran.result["changed"] is (
        not full
    )  # the filesystem step still runs: an interrupted grow converges


def test_growpart_failure_is_reported(agent: Agent, fake_tools: FakeTools) -> None:
    (fake_tools.bin / "findmnt").write_text(
        FINDMNT.format(log=fake_tools.log, source="/dev/xvda1", fstype="ext4")
    )
    (fake_tools.bin / "growpart").write_text(
        GROWPART.format(log=fake_tools.log, answer="FAILED: disk=/dev/xvda partition=1", code=2)
    )
    (fake_tools.bin / "blockdev").write_text(BLOCKDEV.format(log=fake_tools.log))
    (fake_tools.bin / "blockdev").chmod(0o755)
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    ran = agent.run("disk", "grow")
    assert ran.code == 1
    assert "growpart /dev/xvda 1 failed" in ran.result["error"]
    assert not any(c.startswith("resize2fs") for c in fake_tools.calls())


def _sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def loop_disk(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A 64 MiB image with one 20 MiB ext4 partition, attached to a loop device; then the image grows
    to 128 MiB (as an EBS volume does) and the loop device sees it. Yields (image, disk, partition)."""
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(64 * MIB)
    _sh("sh", "-c", f"printf 'label: dos\\nstart=2048, size=40960, type=83\\n' | sfdisk -q {image}")
    try:
        loop = _sh("losetup", "--find", "--show", str(image))
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        pytest.skip(f"no loop device here: {err}")
    try:
        subprocess.run(["partx", "-a", loop], check=False, capture_output=True)  # nodes without udev
        partition = f"{loop}p1"
        if not Path(partition).exists():
            pytest.skip(f"the kernel made no {partition}")
        _sh("mkfs.ext4", "-q", partition)
        with image.open("r+b") as f:
            f.truncate(128 * MIB)
        _sh("losetup", "--set-capacity", loop)
        yield image, loop, partition
    finally:
        subprocess.run(["partx", "-d", loop], check=False, capture_output=True)
        subprocess.run(["losetup", "--detach", loop], check=False, capture_output=True)


@pytest.mark.root
def test_grow_on_a_loop_device(agent: Agent, loop_disk: tuple[Path, str, str]) -> None:
    _, loop, partition = loop_disk
    ran = agent.run("disk", "grow", HUBAGENT_DISK_DEVICE=partition)
    assert ran.code == 0, ran.stderr
    r = ran.result
    assert (r["device"], r["partition"], r["partition_number"], r["filesystem"]) == (
        loop,
        partition,
        1,
        "ext4",
    )
    assert r["changed"] is True
    assert r["partition_before_bytes"] == 20 * MIB
    assert r["partition_after_bytes"] > 120 * MIB
    assert r["before_bytes"] == 20 * MIB
    # the filesystem fills the partition (resize2fs rounds down to whole blocks)
    assert r["partition_after_bytes"] - 64 * 1024 < r["after_bytes"] <= r["partition_after_bytes"]
    block_count = _sh("dumpe2fs", "-h", partition).split("Block count:")[1].split()[0]
    assert int(block_count) * 1024 == r["after_bytes"]

    again = agent.run("disk", "grow", HUBAGENT_DISK_DEVICE=partition)
    assert again.code == 0
    assert again.result["changed"] is False
    assert again.result["after_bytes"] == r["after_bytes"]
