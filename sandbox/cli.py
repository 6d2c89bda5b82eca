"""``hubctl sandbox up|down|status|tick`` (also ``python -m sandbox ...``, what make runs)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from workshop_hub import config

from sandbox import control, procs
from sandbox.layout import PROJECT, Layout, default_root

sandbox_app = typer.Typer(
    help="The local sandbox: the control plane, a real JupyterHub and moto playing AWS, on 127.0.0.1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as hubctl's
    context_settings={"max_content_width": 120},
)

Root = Annotated[
    Path | None, typer.Option("--root", help="Where the sandbox lives (default .sandbox, or $SANDBOX_DIR).")
]


def _layout(root: Path | None) -> Layout:
    return Layout(root.resolve() if root else default_root())


def _say(text: str = "") -> None:
    typer.echo(text)


def _hubctl_command() -> str:
    """How to call hubctl from the user's shell: the venv's script (make puts the venv on PATH only
    for its own commands), or plain ``hubctl`` when another one is installed on PATH."""
    script = Path(sys.executable).parent / "hubctl"
    found = shutil.which("hubctl")
    if found and Path(found).resolve() != script.resolve():
        return "hubctl"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _summary(layout: Layout, state: dict[str, Any]) -> None:
    try:
        rel: Path | str = layout.root.relative_to(Path.cwd())
    except ValueError:
        rel = layout.root
    _say(
        f"hub      {state['hub_url']}   (log in as {_admin(layout)} or any user you add: the first password "
        "typed, 7+ characters, becomes theirs)"
    )
    _say(f"API      {state['api_url']}   (Authorization: Bearer <token>)")
    _say(f"token    {layout.token_file}")
    _say(
        f"AWS      moto on {state['moto_url']}; instance {state['instance_id']}, volume {state['volume_id']}"
    )
    _say(f"config   {state['config']} (data repos are local git repos in {layout.repos})")
    _say(f"logs     {layout.logs}/ and {layout.hub_dir}/jupyterhub.log")
    _say("")
    hubctl = _hubctl_command()
    _say("try next:")
    _say(f"  {hubctl} --sandbox users add alice bob      # then log in to the hub as alice")
    _say(f"  {hubctl} --sandbox sync workshopdata        # ~/workshopdata in every home")
    _say(f"  {hubctl} --sandbox link --qr                # the nbgitpuller link for the notebooks repo")
    tonight = _tonight(layout)
    if tonight:
        _say(f"  {hubctl} sandbox tick --at {tonight}   # the night stop, now")
    _say(
        f"stop it with: make down (it keeps everything; make clean-sandbox deletes it)   "
        f"(for other tools: . {rel}/env sets HUBCTL_API_URL and HUBCTL_TOKEN_FILE)"
    )


def _admin(layout: Layout) -> str:
    try:
        return config.from_json(layout.config_json.read_text(encoding="utf-8")).hub.admin
    except (OSError, ValueError):
        return "the admin"


def _tonight(layout: Layout, now: dt.datetime | None = None) -> str | None:
    """The next night stop in schedule.timezone (the time the schedule fires), or None without one."""
    try:
        schedule = config.from_json(layout.config_json.read_text(encoding="utf-8")).schedule
    except (OSError, ValueError):
        return None
    if schedule.night_stop is None:
        return None
    return next_local(schedule.night_stop.time, schedule.timezone, list(schedule.night_stop.days), now)


def next_local(clock: str, zone_name: str, days: list[str], now: dt.datetime | None = None) -> str:
    """The next HH:MM on one of ``days`` (MON...SUN) in ``zone_name`` after ``now``, as ISO 8601 with
    that zone's offset: the moment the schedule fires."""
    zone = ZoneInfo(zone_name)
    here = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    hour, minute = (int(part) for part in clock.split(":")[:2])
    for ahead in range(8):
        day = here.date() + dt.timedelta(days=ahead)
        at = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if at > here and ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[day.weekday()] in days:
            return at.isoformat(timespec="minutes")
    raise ValueError(f"no day in {days}")


@sandbox_app.command()
def up(
    root: Root = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="workshop.yaml to start from (default: the project's, or $CONFIG)."
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="If it runs already: stop it and start it again (it keeps its state)."
        ),
    ] = False,
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Start from nothing: delete everything the sandbox keeps (roster, operations, homes, "
            "the hub's database, your repos in repos/...) first, and say what. Same as `make clean-sandbox` "
            "before `make up`.",
        ),
    ] = False,
    hub_port: Annotated[
        int | None,
        typer.Option(
            "--hub-port",
            metavar="PORT",
            help="The hub's port (0: any free one). Default: $SANDBOX_HUB_PORT, else the last up's, else 8000.",
            min=0,
            max=65535,
        ),
    ] = None,
) -> None:
    """Start the sandbox in the background (moto, the hub, the API) and print where things are."""
    layout = _layout(root)
    state = procs.running(layout)
    if state is not None and not (restart or clean):
        _say(
            f"the sandbox already runs (state: {layout.state_file}); `down` stops it, `up --restart` restarts it"
        )
        _summary(layout, state)
        return
    source = (config or Path(os.environ.get("CONFIG") or PROJECT / "workshop.yaml")).resolve()
    if clean:
        _say_removed(layout, control.clean(layout))
    _say(f"starting the sandbox in {layout.root} from {source} ...")
    try:
        state = control.up(layout, source, port=hub_port)
    except Exception as err:  # report and exit non-zero; up already stopped what it started
        _say(f"the sandbox did not start: {err}")
        raise typer.Exit(1) from None
    if state.get("stopped_leftovers"):
        _say(f"stopped what an earlier run left running: {', '.join(state['stopped_leftovers'])}")
    kept = "with the state it kept" if state.get("aws_kept") else "from nothing (no kept state)"
    _say(f"up in {state['up_seconds']:.1f} s, {kept}; {state.get('system_users_note', '')}")
    for line in state.get("after_restart") or []:
        _say(f"  after the restart: {line}")
    started = time.monotonic()
    applied = control.apply_workshop(layout, state)
    for what, op in applied:
        mark = "ok" if op.get("state") == "succeeded" else op.get("state", "?")
        _say(f"  {what}: {mark}" + (f" ({op['error']})" if op.get("error") else ""))
    if applied:
        failed = [what for what, op in applied if op.get("state") != "succeeded"]
        verdict = f"{len(failed)} of them did not succeed: see the lines above" if failed else "ready"
        _say(f"workshop.yaml applied in {time.monotonic() - started:.1f} s: {verdict}")
    _say("")
    _summary(layout, state)


@sandbox_app.command()
def down(root: Root = None) -> None:
    """Stop everything `up` started (also what a crashed run left); keeps all it was given."""
    layout = _layout(root)
    started = time.monotonic()
    stopped = control.down(layout)
    if stopped:
        _say(f"stopped {', '.join(stopped)} in {time.monotonic() - started:.1f} s")
    else:
        _say("nothing was running")
    if layout.root.is_dir():
        _say(
            f"kept in {layout.root}: roster, operations, homes, the hub's database (make clean-sandbox deletes them)"
        )


@sandbox_app.command("clean")
def clean_command(root: Root = None) -> None:
    """Stop the sandbox and delete everything it keeps (the next `up` starts from nothing); says what."""
    layout = _layout(root)
    _say_removed(layout, control.clean(layout))


def _say_removed(layout: Layout, removed: list[tuple[str, str]]) -> None:
    if not removed:
        _say(f"nothing to delete in {layout.root}")
        return
    _say(f"deleted from {layout.root}:")
    for name, what in removed:
        _say(f"  {name}" + (f"  ({what})" if what else ""))
    _say("kept: hub-port (links and QR codes handed out stay valid); unix users jupyter-NAME stay (userdel)")


@sandbox_app.command()
def status(root: Root = None) -> None:
    """Whether it runs, its addresses and the sandbox clock."""
    layout = _layout(root)
    state = procs.running(layout)
    if state is None:
        _say("the sandbox is not running (make up)")
        raise typer.Exit(1)
    _, clock = control.call(layout, "GET", "/_sandbox/clock")
    _summary(layout, state)
    _say(f"clock    {clock['now']} (offset {clock['offset_s']:.0f} s from real time)")


@sandbox_app.command()
def tick(
    at: Annotated[
        str | None,
        typer.Option("--at", help="Move the sandbox clock to this time (ISO 8601 with offset) first."),
    ] = None,
    root: Root = None,
) -> None:
    """Fire the schedules that are due (after moving the clock to --at); prints what fired, as JSON."""
    layout = _layout(root)
    if procs.running(layout) is None:
        _say("the sandbox is not running (make up)")
        raise typer.Exit(1)
    status_code, answer = control.call(layout, "POST", "/_sandbox/tick", {"at": at} if at else {})
    _say(json.dumps(answer, indent=1, default=str))
    if status_code != 200:
        raise typer.Exit(2)


@sandbox_app.command(hidden=True)
def serve(root: Root = None) -> None:
    """The control plane process (`up` starts it)."""
    from sandbox import server  # the handlers, the durable runner, boto3: ~1 s that only this process pays

    server.main(_layout(root).root)


@sandbox_app.command("env")
def env_command(root: Root = None) -> None:
    """Print the shell lines that point hubctl at the sandbox: eval "$(python -m sandbox env)"."""
    layout = _layout(root)
    state = procs.running(layout)
    if state is None:
        _say("the sandbox is not running (make up)")
        raise typer.Exit(1)
    _say(control.env_text(layout, state).rstrip())


def main() -> None:
    sandbox_app(prog_name="python -m sandbox")
