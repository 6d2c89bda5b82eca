"""The hub's first-boot script: stacks/userdata/bootstrap.sh with its ``@@NAME@@`` slots filled.

Every value is shell-quoted here, so nothing from workshop.yaml is ever parsed as shell. The values are
non-secret: the admin password stays in Secrets Manager (the script gets its ARN) and the hub service
token is generated on the instance. CDK tokens (the secret's ARN, the wait handle's URL) survive the
quoting as ``'${Token[...]}'`` and resolve inside CloudFormation's ``Fn::Join``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).parent / "userdata" / "bootstrap.sh"
_SLOT = re.compile(r"@@([A-Z_]+)@@")
# EC2 refuses user data over 16 KiB (before base64).
MAX_BYTES = 16 * 1024
# A CDK token (``${Token[...]}``) is ~20 characters at synth but resolves at deploy time: the secret's ARN
# (~100) and the wait handle's presigned S3 URL (several hundred, growing with the signature). Each is
# counted at this bound, so a script that fits at synth still fits once CloudFormation fills it in.
TOKEN_BYTES = 2048
# Deploy-time values with a known longest form: the Elastic IP's address (IPv4), and the secret's ARN
# (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx, a secret's name at most 512 characters).
IPV4_BYTES = len("255.255.255.255")
SECRET_ARN_BYTES = 600
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")


@dataclass(frozen=True)
class BootstrapValues:
    hub_name: str
    tljh_version: str
    admin_user: str
    admin_secret_arn: str
    region: str
    wait_handle_url: str
    pip_packages: tuple[str, ...] = ()
    conda_packages: tuple[str, ...] = ()
    memory_limit: str = ""  # TLJH limits.memory per user; empty: none
    cloudwatch_agent_config: str = ""  # amazon-cloudwatch-agent JSON; empty: no agent
    elastic_ip: str = ""  # the address first boot waits for before downloading; empty: no wait


def render(values: BootstrapValues, template: Path = TEMPLATE) -> str:
    """The script with every slot replaced by a shell-quoted value (lists become bash array items)."""
    slots: dict[str, str] = {
        "HUB_NAME": shlex.quote(values.hub_name),
        "TLJH_VERSION": shlex.quote(values.tljh_version),
        "ADMIN_USER": shlex.quote(values.admin_user),
        "ADMIN_SECRET_ARN": shlex.quote(values.admin_secret_arn),
        "REGION": shlex.quote(values.region),
        "WAIT_HANDLE_URL": shlex.quote(values.wait_handle_url),
        "MEMORY_LIMIT": shlex.quote(values.memory_limit),
        "CW_AGENT_CONFIG": shlex.quote(values.cloudwatch_agent_config),
        "ELASTIC_IP": shlex.quote(values.elastic_ip),
        "PIP_PACKAGES": " ".join(shlex.quote(p) for p in values.pip_packages),
        "CONDA_PACKAGES": " ".join(shlex.quote(p) for p in values.conda_packages),
    }
    text = template.read_text(encoding="utf-8")
    unknown = sorted(set(_SLOT.findall(text)) - slots.keys())
    if unknown:
        raise ValueError(f"{template}: no value for slot(s) {', '.join(unknown)}")
    script = _SLOT.sub(lambda m: slots[m.group(1)], text)
    bounds = dict.fromkeys(_TOKEN.findall(values.elastic_ip), IPV4_BYTES)
    bounds.update(dict.fromkeys(_TOKEN.findall(values.admin_secret_arn), SECRET_ARN_BYTES))
    if deployed_size_bound(script, bounds) > MAX_BYTES:
        raise ValueError(
            f"the hub's first-boot script can reach {deployed_size_bound(script, bounds)} bytes once deployed "
            f"({len(_TOKEN.findall(script))} deploy-time values counted at their longest), over EC2's "
            f"{MAX_BYTES}: list fewer packages in workshop.yaml and add the rest with `hubctl packages` after "
            "the deploy"
        )
    return script


def deployed_size_bound(script: str, bounds: Mapping[str, int] | None = None) -> int:
    """The most bytes ``script`` can have after CloudFormation resolves its tokens (each at TOKEN_BYTES,
    or at its own bound in ``bounds``)."""
    tokens = _TOKEN.findall(script)
    longest = sum((bounds or {}).get(t, TOKEN_BYTES) for t in tokens)
    return len(script.encode()) - sum(len(t.encode()) for t in tokens) + longest
