"""Where things are on the instance. Defaults are TLJH's; each can be overridden by environment,
so the same program runs against a sandbox root and a local hub."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    hub_api: str
    # The hub's proxy, as participants' browsers reach it from the instance (TLJH's traefik on port 80).
    proxy_url: str
    token_file: Path
    tljh_prefix: Path
    data_root: Path
    skel: Path
    homes: Path
    user_env: Path
    ready_marker: Path
    allow_local_repos: bool
    root_mount: str
    # The hub's own Python (it has FirstUseAuthenticator) and the authenticator's password store.
    hub_python: Path
    password_db: Path
    # Sandbox only: the pretend root disk (a JSON file, disk_gib and partition_gib): health reports it,
    # and the bytes under root_mount as its use, instead of the disk of the machine the sandbox runs on.
    sandbox_disk: Path | None
    # How long one rehearse-notebook command runs cells (tests shorten it to see a notebook go on).
    rehearse_budget_s: int
    # The walk-in sign-up door (doorfile.py): its file, its spool, the boot it belongs to, where the
    # door's modules go (None: the hub loads the door already), and TLJH's hub config and tljh-config.
    door_file: Path
    signup_spool: Path
    boot_id_file: Path
    door_dir: Path | None
    hub_config_d: Path
    tljh_config: Path
    # Test seam: an unmounted partition (e.g. /dev/loop0p1) to grow offline instead of the root fs.
    disk_device: str | None
    # Test seam: what a host name resolves to, before DNS is asked (HUBAGENT_RESOLVE="host=address,...",
    # as curl's --resolve); never set on the instance.
    resolve: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        prefix = Path(env.get("HUBAGENT_TLJH_PREFIX", "/opt/tljh"))
        return cls(
            hub_api=env.get("HUBAGENT_HUB_API", "http://127.0.0.1:15001/hub/api").rstrip("/"),
            proxy_url=env.get("HUBAGENT_PROXY_URL", "http://127.0.0.1").rstrip("/"),
            token_file=Path(env.get("HUBAGENT_TOKEN_FILE", "/etc/workshop-hub/hub-token")),
            tljh_prefix=prefix,
            data_root=Path(env.get("HUBAGENT_DATA_ROOT", "/srv/data")),
            skel=Path(env.get("HUBAGENT_SKEL", "/etc/skel")),
            homes=Path(env.get("HUBAGENT_HOMES", "/home")),
            user_env=Path(env.get("HUBAGENT_USER_ENV", str(prefix / "user"))),
            ready_marker=Path(env.get("HUBAGENT_READY_MARKER", "/var/lib/workshop-hub/ready")),
            allow_local_repos=env.get("HUBAGENT_ALLOW_LOCAL_REPOS") == "1",
            root_mount=env.get("HUBAGENT_ROOT_MOUNT", "/"),
            hub_python=Path(env.get("HUBAGENT_HUB_PYTHON", str(prefix / "hub" / "bin" / "python3"))),
            # TLJH runs the hub in /opt/tljh/state, where FirstUse's relative 'passwords.dbm' lands.
            password_db=Path(env.get("HUBAGENT_PASSWORD_DB", str(prefix / "state" / "passwords.dbm"))),
            disk_device=env.get("HUBAGENT_DISK_DEVICE") or None,
            rehearse_budget_s=int(env.get("HUBAGENT_REHEARSE_BUDGET") or 480),
            sandbox_disk=Path(env["HUBAGENT_SANDBOX_DISK"]) if env.get("HUBAGENT_SANDBOX_DISK") else None,
            door_file=Path(env.get("HUBAGENT_SIGNUP_DOOR", "/etc/workshop-hub/signup.json")),
            signup_spool=Path(env.get("HUBAGENT_SIGNUP_SPOOL", "/var/lib/workshop-hub/signups.jsonl")),
            boot_id_file=Path(env.get("HUBAGENT_BOOT_ID_FILE", "/proc/sys/kernel/random/boot_id")),
            door_dir=Path(env.get("HUBAGENT_DOOR_DIR", "/opt/workshop-hub/door"))
            if env.get("HUBAGENT_DOOR_DIR", "x")
            else None,
            hub_config_d=Path(
                env.get("HUBAGENT_HUB_CONFIG_D", str(prefix / "config" / "jupyterhub_config.d"))
            ),
            tljh_config=Path(env.get("HUBAGENT_TLJH_CONFIG", str(prefix / "hub" / "bin" / "tljh-config"))),
            resolve=dict(
                pair.split("=", 1) for pair in env.get("HUBAGENT_RESOLVE", "").split(",") if "=" in pair
            ),
        )
