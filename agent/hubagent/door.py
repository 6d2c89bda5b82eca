"""The walk-in sign-up door: ``/hub/signup`` on the hub, inside JupyterHub (never run by hubagent).

FirstUseAuthenticator (what TLJH and the sandbox use) plus what it lacks, and nothing else: a form, open
only in the window the door file gives (doorfile.py, written by ``hubagent signup open``), guarded by
the workshop code (kept only as a PBKDF2 hash, compared in constant time), with failed codes rate-limited
per client address. It creates the account at once (the hub's user, and FirstUse's password: the same
bcrypt hash in the same dbm store FirstUse's own login writes), logs the participant in and sends them
to their server, which starts as any user's does. Pre-registered users log in at /hub/login as before.

The name rules are hubagent.rules' (the API's, the SSM documents', hubagent's); a name already on the
hub cannot be claimed. The roster's names are on the hub once the roster sync has run: the door file
of a boot before this one reads as closed, so after a start the door opens only when the reconcile has
created the roster's users and opened it again.

Order of the checks: closed door, too many failed codes from this address, the form (name rule,
passwords), the code, then the name taken: only someone with the code learns which names exist.

Client address: the X-Forwarded-For entry ``forwarded_hops`` from the right. Each proxy appends the
address it received the request from, and a browser can write anything to the left of what they
append: behind CloudFront and TLJH's traefik (2 hops), CloudFront appends the viewer's address and
traefik CloudFront's, so the second from the right is the viewer's and cannot be forged. With fewer
entries than hops (a request from the instance itself), the leftmost entry or the connection's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import dbm
import time
from collections import deque
from pathlib import Path
from typing import Any

import bcrypt
from firstuseauthenticator import FirstUseAuthenticator
from jinja2 import ChoiceLoader, DictLoader, TemplateNotFound
from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import Integer, Unicode

from hubagent import doorfile, rules

TEMPLATE = "workshop-hub-signup.html"
_PAGE = """\
{% extends "page.html" %}
{% block login_widget %}{% endblock login_widget %}
{% block main %}
<div id="login-main" class="container">
  <form action="{{ post_url }}" method="post" role="form" id="signup-form">
    <div class="auth-form-header"><h1>Join the workshop</h1></div>
    <div class="auth-form-body m-auto">
      {% if message %}<p class="login_error" id="signup-message" role="alert">{{ message }}</p>{% endif %}
      {% if door_open %}
      <p id="signup-rules">Choose a user name: 1-32 lowercase letters, digits, '-' or '_' (starting and
        ending with a letter or digit). Choose a password of {{ min_password }} characters or more: it is
        yours from now on. The workshop code is on the instructor's slide.</p>
      <input type="hidden" name="_xsrf" value="{{ xsrf }}" />
      <label for="username_input">User name:</label>
      <input id="username_input" type="text" name="username" value="{{ username }}" class="form-control"
             autocapitalize="off" autocorrect="off" autocomplete="username" autofocus="autofocus" required />
      <label for="password_input">Password:</label>
      <input id="password_input" type="password" name="password" class="form-control"
             autocomplete="new-password" required />
      <label for="password2_input">Password, again:</label>
      <input id="password2_input" type="password" name="password2" class="form-control"
             autocomplete="new-password" required />
      <label for="code_input">Workshop code:</label>
      <input id="code_input" type="text" name="code" value="{{ code }}" class="form-control"
             autocapitalize="characters" autocorrect="off" autocomplete="off" required />
      <input id="signup_submit" type="submit" class="btn btn-jupyter form-control" value="Sign up" />
      {% endif %}
      <p><a href="{{ login_url }}">Already have an account? Sign in</a></p>
    </div>
  </form>
</div>
{% endblock main %}
"""

CLOSED = "The sign-up door is closed: ask your instructor."
WRONG_CODE = "That workshop code is not the one on the slide: check it and try again."
EXPIRED = "The form had expired: it is fresh now, send it again."


class RateLimit:
    """Failed codes per client address: at most ``allowed`` in any ``window_s`` seconds."""

    def __init__(self, allowed: int, window_s: float, max_addresses: int = 10_000) -> None:
        self.allowed = allowed
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self.failures.get(address, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try a code again (0: now)."""
        times = self._recent(address, now)
        if len(times) < self.allowed:
            return 0.0
        return times[0] + self.window_s - now

    def fail(self, address: str, now: float) -> None:
        times = self._recent(address, now)
        times.append(now)
        self.failures.pop(address, None)
        self.failures[address] = times  # most recent last: the oldest address goes first when full
        while len(self.failures) > self.max_addresses:
            self.failures.pop(next(iter(self.failures)))


def client_address(forwarded_for: str, hops: int, connection_ip: str) -> str:
    """The client's address as the last ``hops`` proxies saw it (see the module's docstring)."""
    entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
    if hops <= 0 or not entries:
        return connection_ip
    if len(entries) >= hops:
        return entries[-hops]
    return entries[0]


class SignupHandler(BaseHandler):  # type: ignore[misc]
    """/hub/signup: GET shows the form (or that the door is closed), POST signs a walk-in up."""

    @property
    def door(self) -> SignupAuthenticator:
        auth: SignupAuthenticator = self.authenticator
        return auth

    def check_xsrf_cookie(self) -> None:
        # An expired form gets the form again with a fresh token, not JupyterHub's bare 403 page.
        try:
            super().check_xsrf_cookie()
        except web.HTTPError:
            self._xsrf_failed = True

    async def _page(self, status: int = 200, message: str = "", **values: Any) -> None:
        self.door.register_template(self.settings["jinja2_env"])
        self.set_status(status)
        html = await self.render_template(
            TEMPLATE,
            post_url=self.request.path,
            door_open=self.door.is_open(),
            message=message,
            min_password=rules.MIN_SIGNUP_PASSWORD,
            xsrf=self.xsrf_token.decode("ascii"),
            username=values.get("username", ""),
            code=values.get("code", ""),
        )
        self.finish(html)

    async def get(self) -> None:
        if self.current_user:
            self.redirect(self.get_next_url(self.current_user))
            return
        if not self.door.is_open():
            await self._page(403, CLOSED)
            return
        await self._page(code=self.get_argument("code", "", strip=True)[: rules.SIGNUP_CODE.max_chars])

    async def post(self) -> None:
        username = self.get_body_argument("username", "", strip=True)
        password = self.get_body_argument("password", "", strip=False)
        password2 = self.get_body_argument("password2", "", strip=False)
        code = self.get_body_argument("code", "", strip=True)
        shown = {"username": username[:64], "code": code[:64]}
        if not self.door.is_open():
            await self._page(403, CLOSED)
            return
        if getattr(self, "_xsrf_failed", False):
            await self._page(403, EXPIRED, **shown)
            return
        address = client_address(
            self.request.headers.get("X-Forwarded-For", ""),
            self.door.forwarded_hops,
            self.request.remote_ip,
        )
        wait_s = self.door.limit.blocked_for(address, time.monotonic())
        if wait_s > 0:
            minutes = max(1, round(wait_s / 60))
            self.log.warning("signup: too many wrong codes from %s", address)
            await self._page(
                429,
                f"Too many wrong workshop codes from your network: try again in {minutes} minute(s).",
                **shown,
            )
            return
        problem = form_problem(username, password, password2)
        if problem:
            await self._page(400, problem, **shown)
            return
        door = self.door.read()
        code_hash = door.code_hash or ""
        # PBKDF2 and bcrypt take tens to hundreds of ms: off the hub's event loop.
        loop = asyncio.get_running_loop()
        matches = await loop.run_in_executor(None, rules.code_matches, code, code_hash)
        if not matches:
            self.door.limit.fail(address, time.monotonic())
            self.log.warning("signup: wrong workshop code from %s", address)
            await self._page(403, WRONG_CODE, **shown)
            return
        hashed = await loop.run_in_executor(None, _bcrypt, password)
        if not self.door.is_open():  # it may have closed while the hashes were computed
            await self._page(403, CLOSED)
            return
        user = self._create(username, hashed)
        if user is None:
            await self._page(
                409,
                f"The user name '{username}' is taken: choose another one (if it is yours, sign in instead).",
                **shown,
            )
            return
        await maybe_future(self.authenticator.add_user(user))
        user = await self.auth_to_user({"name": username}, user)
        self.set_login_cookie(user)
        self.log.info("signup: %s signed up at the door", username)
        self.redirect(self.get_next_url(user))

    def _create(self, username: str, hashed: bytes) -> Any:
        """The hub's user and FirstUse's password, or None when the name is taken. Runs without
        yielding to the event loop: no other request (a sign-up, the REST API's user creation, a
        FirstUse login) runs between the check and the creation."""
        if self.find_user(username) is not None:
            return None
        self.door.store_password(username, hashed)
        user = self.user_from_username(username)
        doorfile.append_signup(Path(self.door.spool_file), username, dt.datetime.now(dt.timezone.utc))  # noqa: UP017 (3.10)
        return user


def form_problem(username: str, password: str, password2: str) -> str:
    """What is wrong with the form's name and passwords, as the participant reads it; "" when nothing."""
    try:
        rules.USERNAME.check("user name", username)
    except rules.RuleError as err:
        return f"The user name {rules.shown(username)} {err.rule}."
    if len(password) < rules.MIN_SIGNUP_PASSWORD:
        return f"The password must have {rules.MIN_SIGNUP_PASSWORD} characters or more."
    if password != password2:
        return "The two passwords are not the same: type the same password twice."
    return ""


def _bcrypt(password: str) -> bytes:
    hashed: bytes = bcrypt.hashpw(password.encode("utf8"), bcrypt.gensalt())
    return hashed


class SignupAuthenticator(FirstUseAuthenticator):  # type: ignore[misc]
    """FirstUseAuthenticator with the walk-in sign-up door at /hub/signup."""

    door_file = Unicode("/etc/workshop-hub/signup.json", config=True, help="the door file (doorfile.py)")
    spool_file = Unicode("/var/lib/workshop-hub/signups.jsonl", config=True, help="walk-ins, for the roster")
    boot_id_file = Unicode("/proc/sys/kernel/random/boot_id", config=True, help="this boot's id")
    forwarded_hops = Integer(
        1,
        config=True,
        help="X-Forwarded-For entries our proxies append; the client is that many from the right",
    )
    failed_codes_allowed = Integer(20, config=True, help="wrong codes one address may send in the window")
    failed_codes_window_s = Integer(900, config=True, help="the window of failed_codes_allowed, in seconds")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = RateLimit(self.failed_codes_allowed, self.failed_codes_window_s)
        self._door: tuple[tuple[float, int], doorfile.Door] | None = None
        self._boot_id = doorfile.boot_id(Path(self.boot_id_file))

    def read(self) -> doorfile.Door:
        """The door file, read again only when it changed."""
        path = Path(self.door_file)
        try:
            stat = path.stat()
            stamp = (stat.st_mtime, stat.st_ino)
        except OSError:
            return doorfile.CLOSED
        if self._door is None or self._door[0] != stamp:
            self._door = (stamp, doorfile.read_door(path))
        return self._door[1]

    def is_open(self) -> bool:
        return self.read().is_open(dt.datetime.now(dt.timezone.utc), self._boot_id)  # noqa: UP017 (3.10)

    def store_password(self, username: str, hashed: bytes) -> None:
        """FirstUse's own store and format (``db[name] = bcrypt hash``), as its login writes it."""
        for _ in range(50):  # hubagent's users set-passwords may hold the store's lock for a moment
            try:
                db = dbm.open(self.dbm_path, "c", 0o600)  # noqa: SIM115 (closed by the with below)
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise web.HTTPError(503, "the password store is busy: send the form again")
        with db:
            db[username] = hashed

    def register_template(self, env: Any) -> None:
        """The page joins the hub's own templates (it extends page.html, as the login page does)."""
        try:
            env.get_template(TEMPLATE)
        except TemplateNotFound:
            env.loader = ChoiceLoader([env.loader, DictLoader({TEMPLATE: _PAGE})])

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = super().get_handlers(app)
        return [*handlers, (r"/signup", SignupHandler)]
