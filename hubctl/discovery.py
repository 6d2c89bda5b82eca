"""Where the API is and how to sign for it.

On AWS: the control stack's output ``ApiUrl`` (stack ``{hub.name}-control``) and the hub stack's
outputs (``{hub.name}-hub``: ``HubUrl``...), in the region of workshop.yaml, signed with SigV4 and the
default credential chain. Environment overrides (the sandbox sets these):

* ``HUBCTL_API_URL``: the API's base URL; no CloudFormation lookup.
* ``HUBCTL_HUB_URL``: the hub's URL for ``hubctl link``; no CloudFormation lookup.
* ``HUBCTL_SANDBOX=1`` (or ``--sandbox``): send ``Authorization: Bearer <token>`` instead of SigV4,
  the token read from the file ``HUBCTL_TOKEN_FILE`` (setting HUBCTL_TOKEN_FILE alone also selects it).
  Without those variables, the running sandbox's own files say where the API, the hub and the token are
  (``.sandbox/state.json`` and ``.sandbox/api-token``, or under ``$SANDBOX_DIR``).
* ``HUBCTL_REGION``: the region to sign for when it cannot be read from the API URL or workshop.yaml.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from hubctl import aws
from hubctl.errors import AuthError, BadInput, NotFound, Unreachable
from sandbox.layout import Layout, default_root
from sandbox.procs import running

if TYPE_CHECKING:
    from workshop_hub.config import WorkshopConfig

API_URL_ENV = "HUBCTL_API_URL"
HUB_URL_ENV = "HUBCTL_HUB_URL"
SANDBOX_ENV = "HUBCTL_SANDBOX"
TOKEN_FILE_ENV = "HUBCTL_TOKEN_FILE"  # noqa: S105 (a variable name, not a secret)
REGION_ENV = "HUBCTL_REGION"

_EXECUTE_API = re.compile(r"^https://[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


def local_sandbox() -> Layout:
    """The local sandbox's folder: ``.sandbox/`` in the project, or ``$SANDBOX_DIR``."""
    return Layout(default_root())


def local_sandbox_runs() -> bool:
    return running(local_sandbox()) is not None


@dataclass(frozen=True)
class Auth:
    kind: str  # "sigv4" or "bearer"
    region: str = ""
    token: str = field(default="", repr=False)


@dataclass
class Target:
    """What hubctl talks to; CloudFormation is asked only for what a command needs."""

    config_path: Path
    sandbox: bool = False
    _config: WorkshopConfig | None = None
    _outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def config(self) -> WorkshopConfig:
        if self._config is None:
            # pydantic's models: ~90 ms that --help and a command given HUBCTL_API_URL never pay
            from workshop_hub import config

            if not self.config_path.is_file():
                raise NotFound(
                    f"{self.config_path}: no such file",
                    "run hubctl in the project folder, pass --config PATH, or set HUBCTL_API_URL",
                )
            try:
                self._config = config.load(self.config_path)
            except config.ConfigError as err:
                raise BadInput(
                    str(err).splitlines()[0], "fix workshop.yaml", details=str(err).splitlines()[1:]
                ) from None
        return self._config

    @property
    def in_sandbox(self) -> bool:
        return self.sandbox or os.environ.get(SANDBOX_ENV, "") in ("1", "true", "yes")

    @property
    def bearer(self) -> bool:
        return self.in_sandbox or bool(os.environ.get(TOKEN_FILE_ENV))

    def api_url(self) -> str:
        url = os.environ.get(API_URL_ENV)
        if url:
            return url
        if self.bearer:
            return self.sandbox_state("api_url")
        return self.stack_output("control", "ApiUrl")

    def hub_url(self) -> str:
        url = os.environ.get(HUB_URL_ENV)
        if url:
            return url
        if self.in_sandbox:
            return self.sandbox_state("hub_url")
        return self.stack_output("hub", "HubUrl")

    def sandbox_state(self, key: str) -> str:
        """A value the running local sandbox recorded (``.sandbox/state.json``, or under $SANDBOX_DIR)."""
        state = local_sandbox().read_state() or {}
        value = state.get(key)
        if not isinstance(value, str) or not value:
            raise NotFound(
                f"the local sandbox is not running ({default_root()} has no {key})",
                "start it with `make up`, or set HUBCTL_API_URL and HUBCTL_TOKEN_FILE",
            )
        return value

    def region(self) -> str:
        env_url = os.environ.get(API_URL_ENV, "")
        match = _EXECUTE_API.match(env_url)
        if match:
            return match.group(1)
        if os.environ.get(REGION_ENV):
            return os.environ[REGION_ENV]
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region and not self.config_path.is_file():
            return region
        return self.config.hub.region

    def auth(self) -> Auth:
        if not self.bearer:
            return Auth("sigv4", region=self.region())
        token_file = os.environ.get(TOKEN_FILE_ENV)
        if not token_file:
            token_file = str(local_sandbox().token_file)
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise AuthError(
                f"{token_file}: cannot read the token ({err.strerror})", "is the sandbox running?"
            ) from None
        if not token:
            raise AuthError(f"{token_file}: the token file is empty", "restart the sandbox")
        return Auth("bearer", token=token)

    def stack_name(self, which: str) -> str:
        return f"{self.config.hub.name}-{which}"

    def stack_output(self, which: str, key: str) -> str:
        outputs = self.outputs(which)
        if key not in outputs:
            raise NotFound(
                f"stack {self.stack_name(which)} has no output {key}",
                "deploy the current version (make deploy)",
            )
        return outputs[key]

    def outputs(self, which: str) -> dict[str, str]:
        if which not in self._outputs:
            self._outputs[which] = stack_outputs(self.stack_name(which), self.config.hub.region)
        return self._outputs[which]

    def aws_client(self, service: str) -> Any:
        """A boto3 client in the hub's region: AWS with your credentials, or with --sandbox the sandbox's
        moto server (NotFound when the sandbox is not running)."""
        region = self.config.hub.region
        if not self.in_sandbox:
            return aws.client(service, region)
        layout = local_sandbox()
        state = layout.read_state() or {}
        if "moto_url" not in state:
            raise NotFound("the local sandbox is not running", "start it with `make up`")
        # moto answers requests signed with the sandbox's own key only (0600, readable by whoever ran `up`)
        key = layout.aws_credentials()
        return aws.client(
            service,
            str(state.get("region") or region),
            str(state["moto_url"]),
            access_key_id=key["access_key_id"],
            secret_access_key=key["secret_access_key"],
        )

    def sheet_dir(self) -> Path:
        """Where the password sheet goes by default: hub-passwords/, or the sandbox's own folder (a clean
        start deletes it with the users it lists)."""
        return local_sandbox().sheets if self.in_sandbox else Path("hub-passwords")


def stack_outputs(stack: str, region: str) -> dict[str, str]:
    try:
        answer: Any = aws.client("cloudformation", region).describe_stacks(StackName=stack)
    except NoCredentialsError:
        raise AuthError(
            "no AWS credentials found", "configure them (aws configure, aws sso login, or AWS_PROFILE)"
        ) from None
    except EndpointConnectionError as err:
        raise Unreachable(f"cannot reach CloudFormation in {region}: {err}", "check your network") from None
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        message = err.response.get("Error", {}).get("Message", str(err))
        if code == "ValidationError" and "does not exist" in message:
            raise NotFound(
                f"stack {stack} is not deployed in {region}",
                "deploy it (make deploy), or check hub.name and hub.region in workshop.yaml",
            ) from None
        if code in (
            "AccessDenied",
            "AccessDeniedException",
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
            "SignatureDoesNotMatch",
        ):
            raise AuthError(
                f"AWS refused to describe stack {stack}: {message}", "refresh your credentials"
            ) from None
        raise NotFound(f"cannot read stack {stack}: {message}", "check hub.name and hub.region") from None
    except BotoCoreError as err:
        raise Unreachable(
            f"cannot read stack {stack}: {err}", "check your network and AWS settings"
        ) from None
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise NotFound(f"stack {stack} is not deployed in {region}", "deploy it (make deploy)")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}
