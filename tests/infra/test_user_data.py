"""The first-boot script as it is in the template: pinned install, no secret, metadata blocked, packages."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from traitlets.config import Config

from stacks.user_data import BootstrapValues, render

from .conftest import Synth

pytestmark = pytest.mark.synth

FAKE_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AdminPassword-AbCdEf"
FAKE_ELASTIC_IP = "203.0.113.10"
FAKE_HANDLE_URL = "https://cloudformation-waitcondition-eu-west-1.s3.amazonaws.com/arn%3Aaws%3A?X-Amz-Signature=abc&X-Amz-Date=1"


def user_data(synth: Synth) -> str:
    """The script with its two references replaced by stand-ins; any other reference fails the test."""
    _, instance = synth.only("AWS::EC2::Instance")
    encoded = instance["Properties"]["UserData"]["Fn::Base64"]
    if isinstance(encoded, str):
        return str(encoded)
    separator, parts = encoded["Fn::Join"]
    secret_id, _ = synth.only("AWS::SecretsManager::Secret")
    handle_id, _ = synth.only("AWS::CloudFormation::WaitConditionHandle")
    eip_id, _ = synth.only("AWS::EC2::EIP")
    stand_ins = {
        json.dumps({"Ref": secret_id}): FAKE_SECRET_ARN,
        json.dumps({"Ref": handle_id}): FAKE_HANDLE_URL,
        json.dumps({"Fn::GetAtt": [eip_id, "PublicIp"]}): FAKE_ELASTIC_IP,
    }
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        else:
            key = json.dumps(part)
            assert key in stand_ins, f"unexpected reference in user data: {key}"
            text.append(stand_ins[key])
    return str(separator).join(text)


def heredoc(script: str, marker: str, after: str) -> str:
    """The body of the first ``<<'MARKER'`` heredoc after the text ``after``."""
    start = script.index(f"<<'{marker}'\n", script.index(after)) + len(f"<<'{marker}'\n")
    return script[start : script.index(f"\n{marker}\n", start)]


@pytest.fixture(scope="module")
def default_script(default_synth: Synth) -> str:
    return user_data(default_synth)


@pytest.fixture(scope="module")
def custom_script(custom_synth: Synth) -> str:
    return user_data(custom_synth)


def test_pins_the_tljh_version(default_script: str, custom_script: str) -> None:
    assert "\nTLJH_VERSION=2.0.0\n" in default_script
    assert "\nTLJH_VERSION=1.0.0\n" in custom_script
    install = 'python3 "$WORK_DIR/bootstrap.py" --version "$TLJH_VERSION" --admin "$ADMIN_USER:$password"'
    assert install in default_script
    assert "\nADMIN_USER=instructor\n" in default_script
    assert "\nADMIN_USER=teacher\n" in custom_script


def test_downloads_bootstrap_to_a_file_and_checks_it(default_script: str) -> None:
    assert "https://tljh.jupyter.org/bootstrap.py" in default_script
    download = re.search(r"curl --fail [^\n]*\\\n\s+--output \"\$WORK_DIR/bootstrap.py\"", default_script)
    assert download, "bootstrap.py must be downloaded with curl --fail to a file"
    assert "[[ ! -s $WORK_DIR/bootstrap.py ]]" in default_script
    assert not re.search(r"\|\s*(sudo\s+(-E\s+)?)?python3?\b", default_script), "no curl | python3"


def test_contains_no_secret(default_synth: Synth, default_script: str) -> None:
    _, instance = default_synth.only("AWS::EC2::Instance")
    raw = json.dumps(instance["Properties"]["UserData"])
    # The only way a secret's value reaches a template is a dynamic reference: none here.
    assert "resolve:secretsmanager" not in raw
    assert "resolve:ssm-secure" not in raw
    assert "SecretString" not in raw.replace("--query SecretString", "")
    # Only the secret's ARN is passed, and the password is read at boot with the instance role.
    assert f"ADMIN_SECRET_ARN='{FAKE_SECRET_ARN}'" in default_script
    assert "secretsmanager get-secret-value" in default_script
    # No literal token or password: no long random-looking strings at all.
    assert not re.search(r"\b[A-Za-z0-9]{32,}\b", default_script.replace(FAKE_HANDLE_URL, ""))
    assert "secrets.token_hex(32)" in default_script


def test_blocks_metadata_for_everyone_but_root_across_reboots(default_script: str) -> None:
    rule = "rule=(OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT)"
    helper = heredoc(default_script, "SH", "cat >/usr/local/sbin/workshop-hub-imds-block")
    assert rule in helper
    assert 'iptables -w -C "${rule[@]}" 2>/dev/null || iptables -w -I "${rule[@]}"' in helper
    unit = heredoc(default_script, "UNIT", "cat >/etc/systemd/system/workshop-hub-imds-block.service")
    assert "Before=jupyterhub.service" in unit
    assert "WantedBy=multi-user.target" in unit
    assert "ExecStart=/usr/local/sbin/workshop-hub-imds-block" in unit
    assert "systemctl enable --now workshop-hub-imds-block.service" in default_script
    # Blocked before anything else runs.
    main = default_script[default_script.index("\nmain() {") :]
    assert main.index("block_metadata_for_users") < main.index("install_tljh")


def test_installs_the_configured_packages(default_script: str, custom_script: str) -> None:
    assert "\nPIP_PACKAGES=(nbgitpuller 'pandas>=2.2')\n" in default_script
    assert "\nCONDA_PACKAGES=()\n" in default_script
    assert "\nPIP_PACKAGES=(geopandas==1.0.1 'numpy>=1.26,<3')\n" in custom_script
    assert "\nCONDA_PACKAGES=(gdal=3.9)\n" in custom_script
    assert '"$USER_ENV/bin/pip" install --no-input --progress-bar off "${PIP_PACKAGES[@]}"' in default_script
    assert '"$USER_ENV/bin/mamba" install --yes --quiet "${CONDA_PACKAGES[@]}"' in default_script


def test_no_lets_encrypt_on_the_instance(default_script: str, custom_script: str) -> None:
    # CloudFront holds the certificate, with or without https.domain: nothing on the instance asks for one,
    # and port 443 stays closed.
    for script in (default_script, custom_script):
        assert "letsencrypt" not in script
        assert "https.enabled" not in script
        assert "hub.example.org" not in script
        assert "reload proxy" not in script


def test_the_hub_is_configured_for_cloudfront_before_tljh_installs(default_script: str) -> None:
    traefik = heredoc(default_script, "TOML", 'cat >"$TRAEFIK_CONFIG_D/workshop-hub-cloudfront.toml"')
    # TLJH merges traefik_config.d/*.toml into its static config; its entry point on port 80 is "http".
    assert tomllib.loads(traefik) == {"entryPoints": {"http": {"forwardedHeaders": {"insecure": True}}}}
    assert "readonly TRAEFIK_CONFIG_D=/opt/tljh/config/traefik_config.d" in default_script
    unit = heredoc(default_script, "UNIT", 'cat >"$HUB_UNIT_D/workshop-hub-cloudfront.conf"')
    assert hub_environment(unit) == {"JUPYTERHUB_XSRF_ANONYMOUS_IP_CIDRS": "0.0.0.0/0;::/0"}
    assert "readonly HUB_UNIT_D=/etc/systemd/system/jupyterhub.service.d" in default_script
    main = default_script[default_script.index("\nmain() {") :]
    assert main.index("configure_hub_behind_cloudfront") < main.index("install_tljh")
    assert (
        "systemctl daemon-reload"
        in default_script[default_script.index("configure_hub_behind_cloudfront() {") :]
    )


def hub_environment(unit: str) -> dict[str, str]:
    """The variables a systemd drop-in's ``Environment="NAME=VALUE"`` lines set (one a line, quoted)."""
    found = {}
    for line in unit.splitlines():
        if line.startswith("Environment="):
            value = line.removeprefix("Environment=")
            assert value.startswith('"') and value.endswith('"'), f"quote it: {line}"
            name, _, setting = value[1:-1].partition("=")
            found[name] = setting
    return found


def test_the_proxy_snippet_makes_the_xsrf_cookie_secure(default_script: str) -> None:
    snippet = heredoc(default_script, "PY", 'cat >"$HUB_CONFIG_D/workshop-hub-proxy.py"')
    c = Config()
    exec(compile(snippet, "workshop-hub-proxy.py", "exec"), {"get_config": lambda: c})
    assert c.JupyterHub.tornado_settings.get_value({}) == {"xsrf_cookie_kwargs": {"secure": True}}
    # Settings another snippet made are kept.
    c = Config()
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 20}
    exec(compile(snippet, "workshop-hub-proxy.py", "exec"), {"get_config": lambda: c})
    assert c.JupyterHub.tornado_settings == {"slow_spawn_timeout": 20, "xsrf_cookie_kwargs": {"secure": True}}


def test_waits_for_the_hub_then_marks_ready_and_signals(default_script: str) -> None:
    assert "url=http://127.0.0.1/hub/api" in default_script
    assert 'printf \'{"ready_at"' in default_script
    assert "readonly READY_MARKER=$STATE_DIR/ready" in default_script
    assert "readonly STATE_DIR=/var/lib/workshop-hub" in default_script
    main = default_script[default_script.index("\nmain() {") :]
    assert main.index("wait_for_hub") < main.index("signal_cloudformation SUCCESS")
    assert 'trap \'on_error "$LINENO" "$BASH_COMMAND"\' ERR' in default_script
    assert default_script.startswith("#!/bin/bash\n")
    assert "\nset -Eeuo pipefail\n" in default_script
    assert f"WAIT_HANDLE_URL='{FAKE_HANDLE_URL}'" in default_script


def test_service_token_is_root_only_and_configured_before_the_install(default_script: str) -> None:
    assert "readonly TOKEN_FILE=$TOKEN_DIR/hub-token" in default_script
    assert "readonly TOKEN_DIR=/etc/workshop-hub" in default_script
    assert 'install -d -m 0700 -o root -g root "$TOKEN_DIR"' in default_script
    assert (
        "(umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >\"$TOKEN_FILE\")"
        in default_script
    )
    assert 'chmod 0600 "$TOKEN_FILE"' in default_script
    main = default_script[default_script.index("\nmain() {") :]
    assert main.index("install_service_token") < main.index("install_tljh")


def test_service_snippet_appends_an_admin_service(default_script: str, tmp_path: Any) -> None:
    snippet = heredoc(default_script, "PY", 'cat >"$HUB_CONFIG_D/workshop-hub-service.py"')
    token_file = tmp_path / "hub-token"
    token_file.write_text("f" * 64 + "\n")
    source = snippet.replace("/etc/workshop-hub/hub-token", str(token_file))

    # As TLJH leaves it: its idle culler is already a service.
    c = Config()
    culler = {"name": "cull-idle", "admin": True, "command": ["cull"]}
    c.JupyterHub.services = [culler]
    exec(compile(source, "workshop-hub-service.py", "exec"), {"get_config": lambda: c})
    assert c.JupyterHub.services == [culler, {"name": "workshop-hub", "api_token": "f" * 64, "admin": True}]
    assert "load_roles" not in c.JupyterHub

    # And on a hub config that has no services yet.
    fresh = Config()
    exec(compile(source, "workshop-hub-service.py", "exec"), {"get_config": lambda: fresh})
    services = fresh.JupyterHub.services.get_value([])
    assert services == [{"name": "workshop-hub", "api_token": "f" * 64, "admin": True}]


def test_signal_body_is_json_and_trimmed(default_script: str) -> None:
    program = heredoc(default_script, "PY", "signal_cloudformation() {")
    reason = "step failed: " + "x" * 3000 + " the end"
    out = subprocess.run(
        [sys.executable, "-", "FAILURE", reason, "i-0123456789abcdef0", "2.0.0"],
        input=program,
        capture_output=True,
        text=True,
        check=True,
    )
    body = json.loads(out.stdout)
    assert set(body) == {"Status", "Reason", "UniqueId", "Data"}
    assert body["Status"] == "FAILURE"
    assert body["UniqueId"] == "i-0123456789abcdef0"
    assert len(body["Reason"]) <= 1000
    assert body["Reason"].startswith("step failed:")
    assert body["Reason"].endswith("the end")
    assert "curl --silent --show-error --fail" in default_script
    assert '-X PUT -H \'Content-Type:\' --data-binary "@$body" "$WAIT_HANDLE_URL"' in default_script


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
@pytest.mark.parametrize("variant", ["default_script", "custom_script"])
def test_shellcheck_clean(variant: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    script = tmp_path / "bootstrap.sh"
    script.write_text(request.getfixturevalue(variant))
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_an_oversized_script_is_refused_at_synth() -> None:
    too_many = tuple(f"package-{i:03d}-" + "x" * 180 for i in range(50))
    values = BootstrapValues(
        hub_name="h",
        tljh_version="2.0.0",
        admin_user="a",
        admin_secret_arn=FAKE_SECRET_ARN,
        region="eu-west-1",
        wait_handle_url=FAKE_HANDLE_URL,
        pip_packages=too_many,
        conda_packages=too_many,
    )
    with pytest.raises(ValueError, match="over EC2's 16384"):
        render(values)


@pytest.mark.parametrize("variant", ["default_synth", "custom_synth"])
def test_the_synthesized_user_data_leaves_room_for_its_deploy_time_values(
    variant: str, request: pytest.FixtureRequest
) -> None:
    from stacks.user_data import IPV4_BYTES, MAX_BYTES, SECRET_ARN_BYTES, TOKEN_BYTES

    synth: Synth = request.getfixturevalue(variant)
    _, instance = synth.only("AWS::EC2::Instance")
    separator, parts = instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Join"]
    literal = sum(len(p.encode()) for p in parts if isinstance(p, str)) + len(separator) * (len(parts) - 1)
    references = [p for p in parts if not isinstance(p, str)]
    # the wait handle's URL (a presigned URL), the secret's ARN, the Elastic IP's address
    secret_id, _ = synth.only("AWS::SecretsManager::Secret")
    eip_id, _ = synth.only("AWS::EC2::EIP")
    longest = {
        json.dumps({"Ref": secret_id}): SECRET_ARN_BYTES,
        json.dumps({"Fn::GetAtt": [eip_id, "PublicIp"]}): IPV4_BYTES,
    }
    assert len(references) == 3 and sum(json.dumps(r) in longest for r in references) == 2
    bound = literal + sum(longest.get(json.dumps(r), TOKEN_BYTES) for r in references)
    assert bound <= MAX_BYTES, f"{bound} bytes once resolved, over {MAX_BYTES}"
    # What is left is all workshop.yaml's packages may use at first boot (more go in with hubctl later).
    assert MAX_BYTES - bound >= 1024, "less than 1 KiB left for workshop.yaml's packages"


def test_a_script_that_fits_only_with_its_tokens_unresolved_is_refused() -> None:
    from stacks.user_data import MAX_BYTES, TEMPLATE, TOKEN_BYTES, deployed_size_bound

    token = "${Token[TOKEN.123]}"
    # Fits at synth (tokens are 19 characters), not once both resolve to their bound.
    packages = ("x" * (MAX_BYTES - len(TEMPLATE.read_bytes()) - TOKEN_BYTES),)
    values = BootstrapValues(
        hub_name="h",
        tljh_version="2.0.0",
        admin_user="a",
        admin_secret_arn=token,
        region="eu-west-1",
        wait_handle_url=token.replace("123", "124"),
        pip_packages=packages,
    )
    with pytest.raises(ValueError, match="once deployed"):
        render(values)
    assert deployed_size_bound(f"a{token}b") == 2 + TOKEN_BYTES
    assert deployed_size_bound(f"a{token}b", {token: 15}) == 2 + 15


def test_the_login_page_carries_the_password_rule(default_script: str) -> None:
    from sandbox.hub import LOGIN_ANNOUNCEMENT

    snippet = heredoc(default_script, "PY", 'cat >"$HUB_CONFIG_D/workshop-hub-login.py"')
    c = Config()
    c.JupyterHub.template_vars = {"kept": "yes"}  # another snippet's variables survive
    exec(compile(snippet, "workshop-hub-login.py", "exec"), {"get_config": lambda: c})
    assert c.JupyterHub.template_vars == {"kept": "yes", "announcement_login": LOGIN_ANNOUNCEMENT}
    assert "7 characters" in LOGIN_ANNOUNCEMENT
    main = default_script[default_script.index("\nmain() {") :]
    assert main.index("install_login_page") < main.index("install_tljh")


# --- first boot's network: the Elastic IP and the downloads, run with stand-ins -----------------------


def function(script: str, name: str) -> str:
    """The source of the shell function ``name`` as the script defines it."""
    start = script.index(f"\n{name}() {{") + 1
    return script[start : script.index("\n}\n", start) + 3]


class FakeImds(BaseHTTPRequestHandler):
    """IMDSv2: a PUT for a token, then GETs that carry it. public-ipv4 answers the launch address until
    ``switch_after`` GETs have been made, then the Elastic IP (what associating it does)."""

    answers: ClassVar[list[str]] = []
    gets: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        assert self.path == "/latest/api/token" and self.headers["X-aws-ec2-metadata-token-ttl-seconds"]
        self._reply(200, "TOKEN")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "TOKEN":
            self._reply(401, "")
            return
        self.gets.append(self.path)
        index = min(len(self.gets), len(self.answers)) - 1
        self._reply(200, self.answers[index])

    def _reply(self, status: int, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def imds() -> Iterator[tuple[str, type[FakeImds]]]:
    FakeImds.answers, FakeImds.gets = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeImds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", FakeImds
    server.shutdown()
    server.server_close()


def run_functions(
    script: str, names: list[str], body: str, tmp_path: Any, **env: str
) -> subprocess.CompletedProcess[str]:
    """``body`` under the script's own shell options and ERR trap, with its functions ``names`` and
    stand-ins: ``sleep`` only counts (in $SLEPT), ``log`` prints."""
    harness = "\n".join(
        [
            "#!/bin/bash",
            "set -Eeuo pipefail",
            "trap 'echo \"ERR trap: $BASH_COMMAND\"; exit 99' ERR",
            'log() { echo "log: $*"; }',
            'sleep() { echo "$1" >>"$SLEPT"; }',
            *(function(script, name) for name in names),
            body,
            "",
        ]
    )
    path = tmp_path / "harness.sh"
    path.write_text(harness)
    if shutil.which("shellcheck"):
        lint = subprocess.run(["shellcheck", "--shell=bash", str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    (tmp_path / "slept").touch()
    environment = {"PATH": "/usr/bin:/bin", "SLEPT": str(tmp_path / "slept"), **env}
    return subprocess.run(["bash", str(path)], capture_output=True, text=True, env=environment, timeout=120)


def test_first_boot_waits_until_its_public_address_is_the_elastic_ip(
    default_script: str, imds: tuple[str, type[FakeImds]], tmp_path: Any
) -> None:
    url, fake = imds
    fake.answers = ["198.51.100.7", "198.51.100.7", "198.51.100.7", FAKE_ELASTIC_IP]
    body = f"IMDS={url}\nELASTIC_IP={FAKE_ELASTIC_IP}\nwait_for_elastic_ip\necho waited"
    done = run_functions(default_script, ["imds", "wait_for_elastic_ip"], body, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("waited")
    assert fake.gets == ["/latest/meta-data/public-ipv4"] * 4  # the old address three times, then the EIP
    assert (tmp_path / "slept").read_text().split() == ["5", "5", "5"]


def test_an_unreachable_metadata_service_or_no_elastic_ip_never_fails_first_boot(
    default_script: str, imds: tuple[str, type[FakeImds]], tmp_path: Any
) -> None:
    # Nothing listens there: every look fails; the wait gives up after 120 looks and goes on (no ERR trap).
    body = f"IMDS=http://127.0.0.1:9\nELASTIC_IP={FAKE_ELASTIC_IP}\nwait_for_elastic_ip\necho went-on"
    done = run_functions(default_script, ["imds", "wait_for_elastic_ip"], body, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is not the Elastic IP 203.0.113.10 after 600 s; going on" in done.stdout
    assert done.stdout.strip().endswith("went-on")
    assert len((tmp_path / "slept").read_text().split()) == 120
    # Without an Elastic IP there is nothing to wait for.
    url, fake = imds
    (tmp_path / "slept").unlink()
    done = run_functions(
        default_script,
        ["imds", "wait_for_elastic_ip"],
        f"IMDS={url}\nELASTIC_IP=''\nwait_for_elastic_ip",
        tmp_path,
    )
    assert done.returncode == 0 and fake.gets == []


def test_the_synthesized_script_waits_for_its_own_elastic_ip_before_any_download(default_script: str) -> None:
    assert f"\nELASTIC_IP='{FAKE_ELASTIC_IP}'\n" in default_script
    main = default_script[default_script.index("\nmain() {") :]
    first_download = min(
        main.index(step) for step in ("block_metadata_for_users", "read_admin_password", "install_tljh")
    )
    assert main.index("wait_for_elastic_ip") < first_download
    # Near the top, self-contained: before the first step's function.
    assert default_script.index("\nwait_for_elastic_ip() {") < default_script.index(
        "\nblock_metadata_for_users() {"
    )


def test_every_download_is_retried(default_script: str) -> None:
    downloads = re.compile(
        r"\bcurl\b|apt-get install|snap install|/pip\" install|/mamba\" install|bootstrap\.py\" --version"
    )
    # Not downloads: the metadata service and the hub on 127.0.0.1 (local), the signal (curl's --retry 10).
    local = ("$IMDS/latest", '--max-time 5 "$url"', "--retry 10 --retry-all-errors")
    functions = {"tljh_installer"}  # retried as a whole where it is called
    for number, line in enumerate(default_script.splitlines(), 1):
        if not downloads.search(line) or any(mark in line for mark in local):
            continue
        joined = line
        if line.lstrip().startswith("--output"):  # the continuation of a retried curl
            continue
        inside = any(function(default_script, f).find(line.strip()) >= 0 for f in functions)
        assert re.search(r"\bretry \d+ \d+ ", joined) or inside, (
            f"line {number} downloads without a retry: {line.strip()}"
        )
    assert "retry 3 20 tljh_installer" in default_script


def test_the_tljh_installer_is_run_again_as_a_whole_and_never_logs_the_password(
    default_script: str, tmp_path: Any
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    runs = tmp_path / "runs"
    # A stand-in for TLJH's bootstrap.py: its first two runs lose the network, the third installs.
    installer = f"""import pathlib, sys
runs = pathlib.Path({str(runs)!r})
runs.write_text(runs.read_text() + " ".join(sys.argv[1:]) + "\\n" if runs.exists() else " ".join(sys.argv[1:]) + "\\n")
sys.exit(0 if len(runs.read_text().splitlines()) >= 3 else 1)
"""
    stand_in_curl = f'curl() {{ printf "%s" {shlex.quote(installer)} >"$WORK_DIR/bootstrap.py"; }}'
    body = "\n".join(
        [
            stand_in_curl,
            f"WORK_DIR={work}",
            "TLJH_VERSION=2.0.0 ADMIN_USER=instructor TLJH_BOOTSTRAP_URL=https://tljh.invalid/bootstrap.py",
            'printf "%s" "s3cret-Pass" >"$WORK_DIR/admin-password"',
            "install_tljh",
            'echo "installed (step: $STEP)"',
        ]
    )
    names = ["retry", "tljh_installer", "install_tljh"]
    done = run_functions(
        default_script, names, body, tmp_path, PATH=f"/usr/bin:/bin:{Path(sys.executable).parent}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert runs.read_text().splitlines() == ["--version 2.0.0 --admin instructor:s3cret-Pass"] * 3
    assert (tmp_path / "slept").read_text().split() == ["20", "20"]
    assert not (work / "admin-password").exists()  # gone once installed
    assert "s3cret-Pass" not in done.stdout + done.stderr

    # Bounded: an installer that always fails gives up after three runs, and the step fails.
    runs.unlink()
    always = body.replace(shlex.quote(installer), shlex.quote(installer.replace(">= 3", ">= 99")))
    failed = run_functions(
        default_script, names, always, tmp_path, PATH=f"/usr/bin:/bin:{Path(sys.executable).parent}"
    )
    assert failed.returncode == 99  # the script's ERR trap: the step fails, and first boot reports it
    assert "giving up after 3 attempts: tljh_installer" in failed.stdout
    assert len(runs.read_text().splitlines()) == 3
    assert "s3cret-Pass" not in failed.stdout + failed.stderr
