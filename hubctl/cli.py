"""hubctl: the instructor's command line for the workshop hub.

Each command is one call to the API (hubctl.client) and a way to show the answer (hubctl.output).
Mutating commands wait for their operation by default, with the operation's steps shown live.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
import typer.core
from hubagent import rules

from hubctl import errors, output
from hubctl.client import ApiClient, segment
from hubctl.discovery import Target
from hubctl.errors import BadInput, HubctlError
from hubctl.sandbox.cli import sandbox_app

_display_type_rich = typer.core.TyperOption.display_type_rich


def _no_flag_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """A flag takes no value: show no '<bool>' beside it in --help (Typer 0.29 shows one)."""
    return None if self.is_flag else _display_type_rich(self, ctx)


typer.core.TyperOption.display_type_rich = _no_flag_type  # type: ignore[method-assign]
# An argument's metavar says what it is ('[NAME]...'): no '<list[str]>' beside it either.
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

P = ParamSpec("P")
R = TypeVar("R")

HELP = (
    "Drive the workshop hub: start, stop, resize, grow the disk, sync data, install packages, add users.\n\n"
    "Finds the API from the CloudFormation outputs of the stacks named in workshop.yaml and signs requests "
    "with your AWS credentials.\n\n"
    "Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 another operation runs, "
    "4 not found or not deployed, 5 not authorized, 6 API unreachable."
)

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
users_app = typer.Typer(help="The roster: hub users.", no_args_is_help=True)
packages_app = typer.Typer(help="Packages in the participants' environment.", no_args_is_help=True)
ops_app = typer.Typer(help="Operations (every change is one).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(packages_app, name="packages")
app.add_typer(ops_app, name="ops")
app.add_typer(sandbox_app, name="sandbox")


class Output(StrEnum):
    text = "text"
    json = "json"


@dataclass
class State:
    target: Target
    output: Output
    _client: ApiClient | None = None

    @property
    def json(self) -> bool:
        return self.output is Output.json

    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient(self.target.api_url(), self.target.auth())
        return self._client


def friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Every error becomes a message, a hint and its exit code (see hubctl.errors)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except HubctlError as err:
            ctx = kwargs.get("ctx")
            state = ctx.find_root().obj if hasattr(ctx, "find_root") else None
            if isinstance(state, State):
                _hint_sandbox(state, err)
            output.print_error(err)
            if isinstance(state, State) and state.json:
                output.print_json(
                    {
                        "error": err.message,
                        "hint": err.hint,
                        "details": err.details,
                        "operation_id": err.operation_id,
                        "exit_code": err.exit_code,
                    }
                )
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            output.stderr().print("interrupted: an operation already sent goes on running (hubctl status)")
            raise typer.Exit(130) from None

    return run


def _hint_sandbox(state: State, err: HubctlError) -> None:
    """AWS was asked (no credentials, no stack) while a local sandbox runs here: say --sandbox."""
    if state.target.in_sandbox or not isinstance(
        err, errors.AuthError | errors.NotFound | errors.Unreachable
    ):
        return
    from hubctl.sandbox.control import running
    from hubctl.sandbox.layout import Layout, default_root

    if running(Layout(default_root())) is not None:
        err.hint = "a local sandbox runs in this folder: add --sandbox (e.g. hubctl --sandbox status)"


def _state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


@app.callback()
def _options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="workshop.yaml to read (default ./workshop.yaml; the sandbox's own with --sandbox).",
        ),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Talk to the local sandbox started by `make up`.")
    ] = False,
    output_format: Annotated[
        Output, typer.Option("--output", "-o", help="text for people, json for scripts.")
    ] = (Output.text),
) -> None:
    target = Target(config_path=config or Path("workshop.yaml"), sandbox=sandbox)
    if config is None and target.in_sandbox:
        # The sandbox's copy of workshop.yaml names the local data and notebooks repositories it serves.
        from hubctl.sandbox.layout import Layout, default_root

        sandbox_config = Layout(default_root()).config_yaml
        if sandbox_config.is_file():
            target.config_path = sandbox_config
    ctx.obj = State(target, output_format)


NoWait = Annotated[bool, typer.Option("--no-wait", help="Print the operation id and return at once.")]
Timeout = Annotated[int, typer.Option("--timeout", help="Seconds to wait for the operation.", min=1)]
DEFAULT_TIMEOUT = 1800


def _operation(state: State, op_id: str) -> dict[str, Any]:
    answer = state.client().get(f"/operations/{segment(op_id)}")
    assert isinstance(answer, dict)
    return answer


def _operations(state: State) -> list[dict[str, Any]]:
    try:
        answer = state.client().get("/operations")
    except errors.NotFound:
        # An API without GET /operations: the last few that GET /status carries.
        status = state.client().get("/status")
        recent = status.get("last_operations") if isinstance(status, dict) else None
        if not state.json:
            output.stderr().print("this API has no GET /operations: showing the last ones /status lists")
        return [op for op in recent or [] if isinstance(op, dict)]
    listed = answer.get("operations") if isinstance(answer, dict) else answer
    return [op for op in listed or [] if isinstance(op, dict)]


def _full_id(state: State, op_id: str) -> str:
    """A short id from `ops list` ('a1b2c3') is looked up among the recent operations."""
    if op_id.startswith("op-"):
        return op_id
    from hubctl import views

    found = [str(op["id"]) for op in _operations(state) if views.matches(str(op.get("id", "")), op_id)]
    if len(found) != 1:
        raise errors.NotFound(
            f"no recent operation has the short id {op_id!r}"
            if not found
            else f"{len(found)} recent operations end in {op_id!r}",
            "hubctl ops list shows them; give the full id (op-...)",
        )
    return found[0]


def _zone(state: State) -> Any:
    """The workshop's time zone (schedule.timezone) for times shown to people; UTC when unknown."""
    from hubctl import views

    try:
        return views.zone(state.target.config.schedule.timezone)
    except HubctlError:
        return views.zone(None)


def _follow(state: State, op_id: str, timeout_s: int) -> dict[str, Any]:
    live = not state.json and sys.stderr.isatty()
    tz = _zone(state)
    op = output.wait(lambda: _operation(state, op_id), op_id, live=live, timeout_s=timeout_s, tz=tz)
    if state.json:
        output.print_json(op)
    elif not live:
        output.show_operation(op, tz)
    if op.get("state") == "failed":
        raise output.failed(op)
    return op


def _submit(
    state: State, method: str, path: str, body: dict[str, Any] | None, no_wait: bool, timeout_s: int
) -> None:
    client = state.client()
    accepted = client.post(path, body) if method == "POST" else client.delete(path)
    op_id = str(accepted["operation_id"])
    if no_wait:
        if state.json:
            output.print_json(accepted)
        else:
            output.stdout().print(
                f"operation {op_id} {accepted.get('state', 'queued')}; follow it with: "
                f"hubctl ops show {op_id} --wait"
            )
        return
    _follow(state, op_id, timeout_s)


def _check(check: Callable[[Any, str], str], value: Any, field: str) -> None:
    try:
        check(value, field)
    except rules.RuleError as err:
        raise BadInput(str(err), "nothing was sent; fix the value and try again") from None


# --- commands ------------------------------------------------------------------------------------


@app.command()
@friendly
def status(
    ctx: typer.Context,
    cost: Annotated[
        bool, typer.Option("--cost", help="Add this month's cost so far (running hours from CloudWatch).")
    ] = False,
) -> None:
    """Show the hub: instance state and type, address, disk, schedule, keep-awake, last operations."""
    state = _state(ctx)
    answer = state.client().get("/status")
    month = _month_cost(state) if cost else None
    if state.json:
        output.print_json({**answer, "month_cost_estimate": month} if month is not None else answer)
        return
    health = answer.get("hub_health") if isinstance(answer, dict) else None
    uses = {key: health.pop(key, None) for key in ("memory", "disk")} if isinstance(health, dict) else {}
    output.show_status(answer if isinstance(answer, dict) else {})
    for name, use in uses.items():  # hubagent's health, measured now on the hub
        line = output.usage_line(name, use)
        if line is not None:
            output.stdout().print(line)
    if month is not None:
        output.stdout().print(output.month_cost_line(month))


def _month_cost(state: State) -> dict[str, Any]:
    import boto3

    from hubctl.cost import month_so_far

    config = state.target.config
    if state.target.in_sandbox:
        from hubctl.sandbox.layout import Layout, default_root

        sandbox = Layout(default_root()).read_state() or {}
        if "moto_url" not in sandbox:
            return {"error": "the local sandbox is not running"}
        from hubctl.sandbox.aws import client as sandbox_client

        client = sandbox_client("cloudwatch", state=sandbox)  # moto answers its own key only
    else:
        client = boto3.client("cloudwatch", region_name=config.hub.region)
    return month_so_far(config, client)


@app.command()
@friendly
def start(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Start the hub now (and wait until it answers)."""
    _submit(_state(ctx), "POST", "/instance/start", None, no_wait, timeout)


@app.command()
@friendly
def stop(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Stop even if participants are active.")] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Stop the hub now."""
    _submit(_state(ctx), "POST", "/instance/stop", {"force": force}, no_wait, timeout)


@app.command()
@friendly
def resize(
    ctx: typer.Context,
    instance_type: Annotated[str, typer.Argument(metavar="TYPE", help="EC2 instance type, e.g. t3.xlarge.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Resize even while participants are active (they lose their sessions)."),
    ] = False,
    everyday: Annotated[
        bool,
        typer.Option(
            "--everyday", help="Make TYPE the everyday size (session ends return to it), not just for now."
        ),
    ] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Change the instance type (stop, change, start; back to the old type if anything fails after the stop)."""
    _check(rules.check_instance_type, instance_type, "instance_type")
    body: dict[str, Any] = {"instance_type": instance_type}
    body.update({name: True for name, on in (("force", force), ("everyday", everyday)) if on})
    _submit(_state(ctx), "POST", "/instance/resize", body, no_wait, timeout)


@app.command("keep-awake")
@friendly
def keep_awake(
    ctx: typer.Context,
    until: Annotated[
        str,
        typer.Argument(
            help="'+3h', '23:30' (today, in schedule.timezone), 'tomorrow 01:00', ISO 8601, or 'off' to cancel."
        ),
    ],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Keep the hub running past the night stop until UNTIL; the night stop happens then instead."""
    from hubctl.times import iso, parse_until, spoken

    state = _state(ctx)
    if until.strip().lower() == "off":
        if not state.json:
            output.stderr().print("keep-awake off: the night stop applies again")
        _submit(state, "POST", "/instance/keep-awake", {"off": True}, no_wait, timeout)
        return
    parse_until(until, "UTC")  # a typo is refused before anything is asked of the API
    timezone = _timezone(state)
    when = parse_until(until, timezone)
    if not state.json:
        output.stderr().print(f"keep awake until {spoken(when, timezone)}")
    _submit(state, "POST", "/instance/keep-awake", {"until": iso(when)}, no_wait, timeout)


def _timezone(state: State) -> str:
    """The workshop's schedule.timezone: from workshop.yaml, or else from the deployed hub's status."""
    from hubctl.errors import NotFound

    try:
        return state.target.config.schedule.timezone
    except NotFound:
        return str(state.client().get("/status").get("timezone") or "UTC")


@app.command()
@friendly
def reconcile(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Apply everything pending now (users, data repos, packages, the filesystem), as a start would."""
    _submit(_state(ctx), "POST", "/reconcile", None, no_wait, timeout)


@app.command()
@friendly
def grow(
    ctx: typer.Context,
    size_gib: Annotated[
        int, typer.Argument(metavar="SIZE_GIB", help="The new size of the disk in GiB.", min=1)
    ],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Grow the hub's disk (online; EBS takes a new change once the previous one has completed)."""
    _submit(_state(ctx), "POST", "/volume/grow", {"size_gib": size_gib}, no_wait, timeout)


@app.command()
@friendly
def sync(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="A data repo's name; none: each one in workshop.yaml.")
    ] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="https git URL (adds or changes NAME).")] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="Branch, tag or commit.")] = None,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Clone or update the shared data repos into /srv/data/NAME (one operation per repo)."""
    state = _state(ctx)
    if name is None:
        if repo or ref:
            raise BadInput("--repo and --ref need a NAME", "e.g. hubctl sync workshopdata --ref v2")
        names = [data.name for data in state.target.config.data_repos]
        if not names:
            raise BadInput("workshop.yaml has no data_repos", "name one: hubctl sync NAME --repo URL")
        if no_wait and len(names) > 1:
            raise BadInput("--no-wait syncs one repo", f"give its NAME (one of: {', '.join(names)})")
        for each in names:
            _submit(state, "POST", "/data/sync", {"name": each}, no_wait, timeout)
        return
    body: dict[str, Any] = {}
    _check(rules.check_data_name, name, "name")
    body["name"] = name
    if repo is not None:
        _check(rules.check_git_url, repo, "repo")
        body["repo"] = repo
    if ref is not None:
        _check(rules.check_git_ref, ref, "ref")
        body["ref"] = ref
    _submit(state, "POST", "/data/sync", body, no_wait, timeout)


@packages_app.command("add")
@friendly
def packages_add(
    ctx: typer.Context,
    specs: Annotated[list[str], typer.Argument(metavar="SPEC", help="e.g. 'geopandas==1.0.1'.")],
    conda: Annotated[
        bool, typer.Option("--conda", help="Install with conda (mamba) instead of pip.")
    ] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Install packages into the participants' environment."""
    manager = "conda" if conda else "pip"
    problems = []
    for index, spec in enumerate(specs):
        try:
            rules.check_package(manager, spec, f"packages[{index}]")
        except rules.RuleError as err:
            problems.append(str(err))
    if problems:
        raise BadInput(f"{len(problems)} package spec(s) are not allowed; nothing was sent", details=problems)
    _submit(_state(ctx), "POST", "/packages", {"packages": specs, "manager": manager}, no_wait, timeout)


@packages_app.command("remove")
@friendly
def packages_remove(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="The spec as it was added, e.g. 'geopandas==1.0.1'.")
    ],
    conda: Annotated[bool, typer.Option("--conda", help="A conda package (default: pip).")] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Forget a package: no later start or reconcile installs it; where it is installed, it stays."""
    manager = "conda" if conda else "pip"
    _check(lambda value, field: rules.check_package(manager, value, field), spec, "spec")
    query = "?manager=conda" if conda else ""
    _submit(_state(ctx), "DELETE", f"/packages/{segment(spec)}{query}", None, no_wait, timeout)


@users_app.command("add")
@friendly
def users_add(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME", help="Hub user names.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make them hub admins (sudo on the hub!).")] = False,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="FILE",
            help="A registration export (CSV with a header row; , ; or tab).",
            dir_okay=False,
        ),
    ] = None,
    column: Annotated[
        str,
        typer.Option(
            "--column",
            metavar="COLUMN",
            help="The CSV column to read: 'username' is taken as is; any other (email, name...) is turned "
            "into user names by the rule in the README.",
        ),
    ] = "username",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each row's user name and send nothing.")
    ] = False,
    passwords: Annotated[
        bool,
        typer.Option(
            "--passwords",
            help="Give each an initial password (set on the hub, so no one can claim their name) and "
            "write a sheet to hand out: participants.csv and participants.html (cards with QR codes). "
            "The passwords never leave this computer: the hub gets their bcrypt hashes.",
        ),
    ] = False,
    sheet_dir: Annotated[
        Path | None,
        typer.Option(
            "--sheet-dir",
            metavar="DIR",
            help="Where --passwords writes the sheet (default hub-passwords; with --sandbox, the sandbox's "
            "own, which a clean start deletes with the users it lists).",
            file_okay=False,
        ),
    ] = None,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Add users to the roster and create them on the hub."""
    from hubctl import roster

    if bool(names) == bool(csv_file):
        raise BadInput("give user names or --csv FILE (one of them)", "e.g. hubctl users add ada grace")
    if passwords and no_wait:
        raise BadInput("--passwords waits for the users to exist; leave out --no-wait")
    if csv_file:
        registrations = roster.read_csv(csv_file, column)
    else:
        registrations = [roster.Registration(0, n, n) for n in roster.check_names(names or [])]
    state = _state(ctx)
    if dry_run:
        output.show_registrations(registrations, json_output=state.json)
        return
    usernames = [r.username for r in registrations]
    batches = [
        usernames[i : i + rules.MAX_USERS_PER_REQUEST]
        for i in range(0, len(usernames), rules.MAX_USERS_PER_REQUEST)
    ]
    if len(batches) > 1 and not state.json:
        output.stderr().print(
            f"{len(usernames)} users: {len(batches)} operations of up to {rules.MAX_USERS_PER_REQUEST}"
        )
    # What each derived name came from (an address, a full name): the roster keeps it.
    sources = {r.username: r.original[:200] for r in registrations if r.changed}
    for number, batch in enumerate(batches, start=1):
        # One operation runs at a time: every batch but the last is waited for, even with --no-wait.
        last = number == len(batches)
        body: dict[str, Any] = {"usernames": batch, "admin": admin}
        if batch_sources := {n: sources[n] for n in batch if n in sources}:
            body["sources"] = batch_sources
        _submit(state, "POST", "/users", body, no_wait and last, timeout)
    if passwords:
        _initial_passwords(state, registrations, sheet_dir or _sheet_dir(state), timeout)


def _sheet_dir(state: State) -> Path:
    if state.target.in_sandbox:
        from hubctl.sandbox.layout import Layout, default_root

        return Layout(default_root()).sheets
    return Path("hub-passwords")


PASSWORDS_PER_REQUEST = 50  # the API (and hubagent's users-set-passwords) takes 50 at a time


def _initial_passwords(state: State, registrations: list[Any], folder: Path, timeout_s: int) -> None:
    """Generate, hash here, send the hashes (POST /users/passwords), then write the sheet for those set.
    The passwords themselves stay on this computer: in memory, then in the sheet (0600)."""
    from hubctl import sheet

    generated = {r.username: sheet.new_password() for r in registrations}
    hashes = sheet.hashed(generated)
    kept: set[str] = set()
    names = list(generated)
    for start_at in range(0, len(names), PASSWORDS_PER_REQUEST):
        batch = names[start_at : start_at + PASSWORDS_PER_REQUEST]
        body = {"credentials": [{"username": n, "hash": hashes[n]} for n in batch], "reset": False}
        try:
            accepted = state.client().post("/users/passwords", body)
        except errors.NotFound as err:
            if not err.message.startswith("no route"):  # a name not on the roster (removed meanwhile)
                raise errors.NotFound(
                    err.message, "no sheet was written; add the user and try again"
                ) from None
            raise errors.NotFound(
                "this API cannot set passwords yet (no POST /users/passwords); the users were added",
                "they can still log in with a first password of their own (the login page says how)",
            ) from None
        op = _follow_quietly(state, str(accepted["operation_id"]), timeout_s)
        kept |= set(_result_list(op.get("result") or {}, "kept"))
    cards = [
        sheet.Card(r.username, None if r.username in kept else generated[r.username], r.original)
        for r in registrations
    ]
    csv_path, html_path = sheet.write_sheet(folder, cards, state.target.hub_url())
    if state.json:
        output.print_json({"sheet": [str(csv_path), str(html_path)], "kept": sorted(kept)})
        return
    output.stdout().print(
        f"initial passwords set for {len(cards) - len(kept)} user(s)"
        + (f"; {len(kept)} had chosen one already and keep it ({', '.join(sorted(kept))})" if kept else "")
    )
    output.stdout().print(
        f"sheet to print and hand out: {html_path} (and {csv_path}; both readable by you only)"
    )


def _follow_quietly(state: State, op_id: str, timeout_s: int) -> dict[str, Any]:
    """Wait for an operation whose result must not be printed (it may echo what was sent)."""
    op = output.wait(lambda: _operation(state, op_id), op_id, live=False, timeout_s=timeout_s)
    if op.get("state") == "failed":
        raise output.failed(op)
    return op


def _result_list(result: dict[str, Any], key: str) -> list[str]:
    """A list field of an operation's result, also when the domain nests hubagent's result."""
    if isinstance(result.get(key), list):
        return [str(v) for v in result[key]]
    for value in result.values():
        if isinstance(value, dict):
            found = _result_list(value, key)
            if found:
                return found
    return []


@users_app.command("list")
@friendly
def users_list(ctx: typer.Context) -> None:
    """The roster, with admin flags and whether each user exists on the hub yet."""
    state = _state(ctx)
    answer = state.client().get("/users")
    if state.json:
        output.print_json(answer)
        return
    users = answer.get("users", []) if isinstance(answer, dict) else []
    if users:
        output.stdout().print(output.rows(f"{len(users)} users", users))
    else:
        output.stdout().print("no users yet: hubctl users add NAME...")


@users_app.command("remove")
@friendly
def users_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The hub user name.")],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Remove a user from the roster and the hub (the home directory is kept)."""
    _check(rules.check_username, name, "name")
    state = _state(ctx)
    answer = state.client().get("/users")
    roster = [str(u.get("username")) for u in (answer or {}).get("users", []) if isinstance(u, dict)]
    if name not in roster:
        raise errors.NotFound(
            f"name: {name!r} is not on the roster; nothing was sent",
            "hubctl users list shows the roster" + (f" (e.g. {', '.join(roster[:3])})" if roster else ""),
        )
    _submit(state, "DELETE", f"/users/{segment(name)}", None, no_wait, timeout)


@ops_app.command("list")
@friendly
def ops_list(ctx: typer.Context) -> None:
    """Recent operations, newest first, one line each (short id, local time, kind, state, duration, error)."""
    from hubctl import views

    state = _state(ctx)
    ops = _operations(state)
    if state.json:
        output.print_json({"operations": ops})
        return
    if not ops:
        output.stdout().print("no operations yet")
        return
    tz = _zone(state)
    for op in ops:
        sys.stdout.write(views.op_line(op, tz) + "\n")


@ops_app.command("show")
@friendly
def ops_show(
    ctx: typer.Context,
    op_id: Annotated[
        str, typer.Argument(metavar="ID", help="The operation id, or its short id from ops list.")
    ],
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends.")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Show an operation: state, steps with times, error. Exit code 1 if it failed."""
    state = _state(ctx)
    op_id = _full_id(state, op_id)
    if wait:
        _follow(state, op_id, timeout)
        return
    op = _operation(state, op_id)
    if state.json:
        output.print_json(op)
    else:
        output.show_operation(op, _zone(state))
    if op.get("state") == "failed":
        raise output.failed(op)


@app.command()
@friendly
def link(
    ctx: typer.Context,
    notebook: Annotated[str | None, typer.Argument(help="A notebook path inside the notebooks repo.")] = None,
    qr: Annotated[bool, typer.Option("--qr", help="Print a QR code in the terminal.")] = False,
    png: Annotated[
        Path | None, typer.Option("--png", help="Write the QR code to a PNG file.", dir_okay=False)
    ] = None,
    hub_url: Annotated[
        str | None, typer.Option("--hub-url", help="The hub's URL (default: from the stack).")
    ] = None,
) -> None:
    """The nbgitpuller link that opens the workshop's notebooks (notebooks.repo in workshop.yaml)."""
    from hubctl.link import nbgitpuller_link, print_qr, save_png

    state = _state(ctx)
    notebooks = state.target.config.notebooks
    if notebooks is None:
        raise BadInput(
            "workshop.yaml has no notebooks repo", "add notebooks: {repo: https://..., branch: main}"
        )
    url = nbgitpuller_link(hub_url or state.target.hub_url(), notebooks.repo, notebooks.branch, notebook)
    if png is not None:
        save_png(url, png)
    if state.json:
        output.print_json({"url": url, "png": str(png) if png else None})
        return
    sys.stdout.write(url + "\n")
    if qr:
        print_qr(url, sys.stdout)
    if png is not None:
        output.stderr().print(f"QR code written to {png}")


@app.command("plan")
@friendly
def plan_command(
    ctx: typer.Context,
    participants: Annotated[
        int, typer.Option("--participants", "-n", help="How many participants at once.", min=1, max=10000)
    ],
    open_notebooks: Annotated[
        int, typer.Option("--open", help="How many notebooks one participant keeps running at once.", min=1)
    ] = 1,
    notebooks: Annotated[
        Path | None,
        typer.Option("--notebooks", help="A folder of notebooks (default: notebooks.repo of workshop.yaml)."),
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="A data repo's folder, counted once on the disk.")
    ] = None,
    prices: Annotated[
        str, typer.Option("--prices", help="auto (Price List API with credentials, else table), table, live.")
    ] = "auto",
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write plan.instance_type and hub.memory_limit into workshop.yaml."),
    ] = False,
    kernel: Annotated[str, typer.Option("--kernel", help="The Jupyter kernel to run them in.")] = "python3",
    python: Annotated[
        Path | None,
        typer.Option(
            "--python",
            help="The python of the workshop's environment to run them with (--sandbox: the sandbox's user env).",
            dir_okay=False,
        ),
    ] = None,
    cell_timeout: Annotated[
        int, typer.Option("--cell-timeout", help="Seconds one cell may run.", min=1)
    ] = 600,
) -> None:
    """Run the workshop's notebooks, measure them, and size the hub: RAM, disk, instance types, cost."""
    from hubctl.plan.command import PriceSource, Request, run

    if prices not in PriceSource.__members__:
        raise BadInput(f"--prices: '{prices}' is not one of auto, table, live")
    state = _state(ctx)
    if python is None and state.target.in_sandbox:
        from hubctl.sandbox.layout import Layout, default_root

        sandbox_python = Layout(default_root()).user_env / "bin" / "python"
        python = sandbox_python if sandbox_python.is_file() else None
    request = Request(
        participants=participants,
        open_notebooks=open_notebooks,
        notebooks=notebooks,
        data=list(data or []),
        prices=PriceSource(prices),
        apply=apply,
        kernel=kernel,
        python=python,
        cell_timeout=cell_timeout,
    )
    run(state.target.config, _plan_file(state), request, json_output=state.json)


def _plan_file(state: State) -> Path:
    """Where --apply writes: workshop.yaml; with --sandbox, the file `make up` read (its copy in .sandbox/ is
    made again at every `make up`)."""
    path = state.target.config_path
    if state.target.in_sandbox:
        from hubctl.sandbox.layout import Layout, default_root

        layout = Layout(default_root())
        source = (layout.read_state() or {}).get("config_source")
        if path == layout.config_yaml and isinstance(source, str) and Path(source).is_file():
            return Path(source)
    return path


@app.command()
@friendly
def snapshots(ctx: typer.Context) -> None:
    """The hub's disk snapshots, newest first: nightly backups and those taken before a grow."""
    from hubctl.snapshots import ec2_client, for_people, list_snapshots

    state = _state(ctx)
    sandbox_state = None
    if state.target.in_sandbox:
        from hubctl.sandbox.layout import Layout, default_root

        sandbox_state = Layout(default_root()).read_state()
        if not sandbox_state or "moto_url" not in sandbox_state:
            raise errors.NotFound("the local sandbox is not running", "start it with `make up`")
    config = state.target.config
    found = list_snapshots(ec2_client(config.hub.region, sandbox_state), config.hub.name)
    if state.json:
        output.print_json({"snapshots": found})
    elif found:
        output.stdout().print(output.rows(f"{len(found)} snapshots of {config.hub.name}", for_people(found)))
        output.stderr().print("restore one: README, 'Backups: restoring a snapshot'")
    else:
        output.stdout().print(
            "no snapshots yet: the first nightly one is taken after the night stop following the deploy"
        )


def main() -> None:
    app()


__all__ = ["app", "errors", "main"]
