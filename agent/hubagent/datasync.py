"""data sync: a git repository, shallow, in DATA_ROOT/NAME (root's, read-only to users), linked into
/etc/skel and every existing home (TLJH's documented recipe misses existing homes).

Before git runs, the repository's host is resolved and every address it resolves to must be public
(hubagent.addresses): git runs as root, beside the metadata service and the VPC. git then connects to
the address that was checked (http.curloptResolve: a second lookup cannot answer otherwise) and
follows no redirect (a public host cannot send it inside)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

from hubagent import addresses, rules
from hubagent.errors import ActionFailed, InputError
from hubagent.proc import log, run
from hubagent.settings import Settings

GIT_TIMEOUT = 1200


def check_inputs(name: str, repo: str, ref: str | None, allow_local: bool) -> tuple[str, str, str | None]:
    try:
        rules.check_data_name(name, "name")
        rules.check_git_url(repo, "repo", allow_local=allow_local)
        if ref:  # empty: the remote's default branch
            rules.check_git_ref(ref, "ref")
    except rules.RuleError as err:
        raise InputError(str(err)) from None
    return name, repo, ref or None


def git_env() -> dict[str, str]:
    """No prompts, no askpass, no user or system config: the same git behaviour on every run."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    return keep | {
        "LC_ALL": "C",
        "HOME": "/nonexistent",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/true",
        "SSH_ASKPASS": "/bin/true",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    }


def git_argv(checkout: Path, *args: str, allow_local: bool, pin: str | None = None) -> list[str]:
    protocols = ["-c", "protocol.allow=never", "-c", "protocol.https.allow=always"]
    if allow_local:
        protocols += ["-c", "protocol.file.allow=always"]
    if pin is not None:  # host:port:address, checked public just before
        protocols += ["-c", f"http.curloptResolve={pin}", "-c", "http.followRedirects=false"]
    return ["git", *protocols, "-c", "core.hooksPath=/dev/null", "-C", str(checkout), *args]


def _git(checkout: Path, *args: str, allow_local: bool, what: str, pin: str | None = None) -> str:
    argv = git_argv(checkout, *args, allow_local=allow_local, pin=pin)
    return run(argv, what=what, env=git_env(), timeout=GIT_TIMEOUT).stdout.strip()


def public_pin(repo: str, settings: Settings) -> str | None:
    """``host:port:address`` for git to connect to, once every address the repo's host resolves to is
    public (InputError otherwise, before git runs); None for a local repository (the sandbox's)."""
    if not repo.startswith("https://"):
        return None
    host, port = addresses.host_and_port(repo)
    literal = addresses.ipv4_any_form(host)
    found = [str(literal)] if literal is not None else resolve(host, port, settings)
    private = [a for a in found if not addresses.is_public(ipaddress.ip_address(a.split("%", 1)[0]))]
    if private:
        raise InputError(
            f"repo: {host} resolves to {', '.join(private)}, which is not a public address: refused before "
            "git ran (data repos must be on a public host)"
        )
    address = found[0]
    return f"{host}:{port}:[{address}]" if ":" in address else f"{host}:{port}:{address}"


def resolve(host: str, port: int, settings: Settings) -> list[str]:
    if host in settings.resolve:
        return [settings.resolve[host]]
    try:
        answers = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as err:
        raise ActionFailed(
            f"cannot resolve {host} ({err}): check the repository URL; nothing was fetched"
        ) from None
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


def _head(checkout: Path, allow_local: bool) -> str | None:
    argv = git_argv(checkout, "rev-parse", "--verify", "--quiet", "HEAD", allow_local=allow_local)
    done = run(argv, what="git rev-parse", env=git_env(), check=False)
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _fetch_and_reset(checkout: Path, repo: str, ref: str | None, allow_local: bool, pin: str | None) -> str:
    shown_ref = ref or "the default branch"
    _git(
        checkout,
        "fetch",
        "--depth=1",
        "--no-tags",
        "--",
        repo,
        ref or "HEAD",
        allow_local=allow_local,
        pin=pin,
        what=f"git fetch of {repo} ({shown_ref}); check the repository URL and ref",
    )
    # Resetting to what was fetched (not merging) makes a force-push or a changed ref converge.
    _git(checkout, "reset", "--hard", "--quiet", "FETCH_HEAD", allow_local=allow_local, what="git reset")
    _git(checkout, "clean", "-ffdxq", allow_local=allow_local, what="git clean")
    return _git(checkout, "rev-parse", "HEAD", allow_local=allow_local, what="git rev-parse")


def make_read_only(top: Path) -> None:
    """root-owned, directories 755 and files 644. Symlinks are left alone: chmod would follow them.
    (Only root can write in this tree, so nothing can swap an entry between lstat and chmod.)"""
    for dirpath, dirnames, filenames in os.walk(top):
        for entry in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:  # noqa: PTH118
            st = os.lstat(entry)
            os.chown(entry, 0, 0, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                os.chmod(entry, 0o755)  # noqa: PTH101, S103 (read-only to users is the point)
            elif stat.S_ISREG(st.st_mode):
                os.chmod(entry, 0o644)  # noqa: PTH101


def _link_into(home: Path, name: str, target: Path) -> tuple[str, str | None]:
    """Make HOME/NAME a symlink to ``target`` owned by the home's owner.
    Returns ("created"|"present"|"skipped", reason)."""
    link = home / name
    if link.is_symlink():
        current = str(link.readlink())
        if Path(current) == target:
            return "present", None
        return "skipped", f"{link} is already a link to {current} (left as it is)"
    if link.exists():
        kind = "folder" if link.is_dir() else "file"
        return "skipped", f"{link} is the user's own {kind} (left as it is; move it away to get the link)"
    owner = home.stat()
    try:
        link.symlink_to(target)
    except FileExistsError:
        return "skipped", f"{link} appeared while linking (left as it is)"
    os.chown(link, owner.st_uid, owner.st_gid, follow_symlinks=False)
    return "created", None


def homes(settings: Settings) -> list[Path]:
    if not settings.homes.is_dir():
        return []
    return sorted(p for p in settings.homes.glob("jupyter-*") if p.is_dir() and not p.is_symlink())


def sync(settings: Settings, name: str, repo: str, ref: str | None) -> dict[str, Any]:
    allow_local = settings.allow_local_repos
    pin = public_pin(repo, settings)
    root = settings.data_root
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # noqa: PTH101, S103 (users traverse it to reach their data)
    target = root / name
    previous: str | None = None
    if target.is_symlink() or (target.exists() and not (target / ".git").is_dir()):
        raise ActionFailed(
            f"{target} exists and is not a git checkout made by data sync: move it away, then sync again"
        )
    if target.exists():
        previous = _head(target, allow_local)
        log(f"updating {target} from {repo}")
        commit = _fetch_and_reset(target, repo, ref, allow_local, pin)
    else:
        log(f"cloning {repo} into {target}")
        # A new clone is made beside the target and renamed into place: a failure leaves nothing half-made.
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            _git(staging, "init", "--quiet", allow_local=allow_local, what="git init")
            commit = _fetch_and_reset(staging, repo, ref, allow_local, pin)
            make_read_only(staging)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    make_read_only(target)

    linked: list[str] = []
    created: list[str] = []
    skipped: list[dict[str, str]] = []
    for home in [settings.skel, *homes(settings)]:
        if not home.is_dir():
            skipped.append({"home": str(home), "reason": f"{home} is not a folder"})
            continue
        outcome, reason = _link_into(home, name, target)
        if outcome == "skipped":
            skipped.append({"home": str(home), "reason": reason or ""})
        else:
            linked.append(str(home))
            if outcome == "created":
                created.append(str(home))
    return {
        "changed": commit != previous or bool(created),
        "name": name,
        "repo": repo,
        "ref": ref or "",
        "path": str(target),
        "commit": commit,
        "previous_commit": previous,
        "linked_homes": linked,
        "new_links": created,
        "skipped_homes": skipped,
    }


def _unlink_from(home: Path, name: str, target: Path) -> str:
    """Remove HOME/NAME when it is the link data sync made to ``target``: "removed", "absent" or "kept"
    (anything else of that name is the user's own, left as it is)."""
    link = home / name
    if not link.is_symlink():
        return "kept" if link.exists() else "absent"
    if Path(str(link.readlink())) != target:
        return "kept"
    link.unlink()
    return "removed"


def remove(settings: Settings, name: str) -> dict[str, Any]:
    """Remove DATA_ROOT/NAME (a checkout data sync made) and its links from /etc/skel and every home.
    Idempotent: a repo removed already changes nothing. A user's own file or folder of that name, or a
    link elsewhere, is left as it is (and named)."""
    target = settings.data_root / name
    if target.is_symlink() or (target.exists() and not (target / ".git").is_dir()):
        raise ActionFailed(f"{target} is not a git checkout made by data sync: left as it is")
    unlinked: list[str] = []
    kept: list[str] = []
    for home in [settings.skel, *homes(settings)]:
        if not home.is_dir():
            continue
        outcome = _unlink_from(home, name, target)
        if outcome == "removed":
            unlinked.append(str(home))
        elif outcome == "kept":
            kept.append(str(home / name))
    removed = target.exists()
    if removed:
        log(f"removing {target}")
        # Renamed first, so a half-removed tree never stands under the name users' links pointed to.
        doomed = Path(tempfile.mkdtemp(prefix=f".{name}.removing.", dir=settings.data_root))
        target.rename(doomed / name)
        shutil.rmtree(doomed)
    return {
        "changed": removed or bool(unlinked),
        "name": name,
        "path": str(target),
        "removed": removed,
        "unlinked_homes": unlinked,
        "kept": kept,
    }
