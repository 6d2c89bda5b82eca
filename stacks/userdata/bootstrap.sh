#!/bin/bash
# workshop-hub first boot: installs The Littlest JupyterHub and reports to CloudFormation.
# Rendered by stacks/user_data.py with non-secret values only: the admin password is read from
# Secrets Manager with the instance role, the hub service token is generated here.
set -Eeuo pipefail
umask 022
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin
export DEBIAN_FRONTEND=noninteractive

HUB_NAME=@@HUB_NAME@@
TLJH_VERSION=@@TLJH_VERSION@@
ADMIN_USER=@@ADMIN_USER@@
ADMIN_SECRET_ARN=@@ADMIN_SECRET_ARN@@
REGION=@@REGION@@
WAIT_HANDLE_URL=@@WAIT_HANDLE_URL@@
PIP_PACKAGES=(@@PIP_PACKAGES@@)
CONDA_PACKAGES=(@@CONDA_PACKAGES@@)
MEMORY_LIMIT=@@MEMORY_LIMIT@@
CW_AGENT_CONFIG=@@CW_AGENT_CONFIG@@
ELASTIC_IP=@@ELASTIC_IP@@

readonly TLJH_BOOTSTRAP_URL=https://tljh.jupyter.org/bootstrap.py
readonly INSTALLER_LOG=/opt/tljh/installer.log
readonly CLOUD_INIT_LOG=/var/log/cloud-init-output.log
readonly STATE_DIR=/var/lib/workshop-hub
readonly READY_MARKER=$STATE_DIR/ready
readonly TOKEN_DIR=/etc/workshop-hub
readonly TOKEN_FILE=$TOKEN_DIR/hub-token
readonly HUB_CONFIG_D=/opt/tljh/config/jupyterhub_config.d
readonly TRAEFIK_CONFIG_D=/opt/tljh/config/traefik_config.d
readonly HUB_UNIT_D=/etc/systemd/system/jupyterhub.service.d
readonly USER_ENV=/opt/tljh/user
readonly TLJH_CONFIG=/opt/tljh/hub/bin/tljh-config
readonly IMDS=http://169.254.169.254
readonly CW_AGENT_DIR=/opt/aws/amazon-cloudwatch-agent

STEP="start"
SIGNALLED=0
WORK_DIR=$(mktemp -d)

log() {
  echo "workshop-hub[$HUB_NAME] $(date -u +%FT%TZ) $*"
}

imds() {
  local token
  token=$(curl --silent --fail --max-time 5 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
  curl --silent --fail --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/$1"
}

# Sends the wait condition signal: {"Status", "Reason", "UniqueId", "Data"}, JSON-escaped by python3.
signal_cloudformation() {
  local status=$1 reason=$2 instance_id body
  instance_id=$(imds instance-id || echo "unknown-instance")
  body=$WORK_DIR/signal.json
  python3 - "$status" "$reason" "$instance_id" "$TLJH_VERSION" >"$body" <<'PY'
import json
import sys

status, reason, unique_id, version = sys.argv[1:5]
if len(reason) > 1000:
    reason = reason[:200] + " ... " + reason[-795:]
print(json.dumps({"Status": status, "Reason": reason, "UniqueId": unique_id, "Data": f"tljh {version}"}))
PY
  curl --silent --show-error --fail --retry 10 --retry-all-errors --retry-delay 3 --max-time 30 \
    -X PUT -H 'Content-Type:' --data-binary "@$body" "$WAIT_HANDLE_URL"
  SIGNALLED=1
}

log_tail() {
  local file
  for file in "$INSTALLER_LOG" "$CLOUD_INIT_LOG"; do
    if [[ -s $file ]]; then
      echo "tail of $file:"
      tail -n 15 "$file" | cut -c1-200
      return 0
    fi
  done
  echo "(no log yet)"
}

on_error() {
  local status=$? line=$1 command=$2
  trap - ERR
  set +e
  log "FAILED in step '$STEP' (line $line, exit $status): $command"
  if ((SIGNALLED == 0)); then
    signal_cloudformation FAILURE "workshop-hub bootstrap failed in step '$STEP' (exit $status): $(log_tail)"
  fi
  rm -rf "$WORK_DIR"
  exit "$status"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

retry() {  # retry ATTEMPTS DELAY COMMAND...
  local attempts=$1 delay=$2 n=1
  shift 2
  until "$@"; do
    if ((n >= attempts)); then
      log "giving up after $n attempts: $*"
      return 1
    fi
    log "attempt $n failed, retrying in ${delay}s: $1"
    n=$((n + 1))
    sleep "$delay"
  done
}

# First boot's network: associating the Elastic IP drops the launch address, and any download under way.
wait_for_elastic_ip() {
  local n
  for ((n = 0; n < 120; n++)); do
    [[ -z $ELASTIC_IP || $(imds public-ipv4 || true) == "$ELASTIC_IP" ]] && return 0
    sleep 5
  done
  log "public IPv4 is not the Elastic IP $ELASTIC_IP after 600 s; going on (downloads are retried)"
}

# TLJH's installer downloads TLJH and its environments itself: retried as a whole (it is re-runnable).
tljh_installer() {
  local password
  password=$(<"$WORK_DIR/admin-password")
  python3 "$WORK_DIR/bootstrap.py" --version "$TLJH_VERSION" --admin "$ADMIN_USER:$password"
}

block_metadata_for_users() {
  STEP="block instance metadata for non-root users"
  command -v iptables >/dev/null || retry 3 10 apt-get install -y iptables
  cat >/usr/local/sbin/workshop-hub-imds-block <<'SH'
#!/bin/bash
# Only root (the SSM agent, hubagent) may reach the instance metadata service and the role's credentials.
set -euo pipefail
rule=(OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT)
iptables -w -C "${rule[@]}" 2>/dev/null || iptables -w -I "${rule[@]}"
SH
  chmod 0755 /usr/local/sbin/workshop-hub-imds-block
  cat >/etc/systemd/system/workshop-hub-imds-block.service <<'UNIT'
[Unit]
Description=workshop-hub: block the instance metadata service for every user but root
Before=jupyterhub.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/workshop-hub-imds-block

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now workshop-hub-imds-block.service
}

read_admin_password() {
  STEP="read the admin password from Secrets Manager"
  snap wait system seed.loaded
  if ! snap list aws-cli >/dev/null 2>&1; then
    retry 5 10 snap install aws-cli --classic
  fi
  # The instance profile's credentials can take a few seconds to appear after launch.
  retry 10 6 /snap/bin/aws secretsmanager get-secret-value --region "$REGION" \
    --secret-id "$ADMIN_SECRET_ARN" --query SecretString --output text >"$WORK_DIR/admin-password"
  if [[ ! -s $WORK_DIR/admin-password ]] || grep -q ':' "$WORK_DIR/admin-password"; then
    log "the admin password secret is empty or contains ':' (TLJH's --admin user:password cannot take it)"
    return 1
  fi
}

install_service_token() {
  STEP="install the control plane's hub service token"
  install -d -m 0700 -o root -g root "$TOKEN_DIR"
  if [[ ! -s $TOKEN_FILE ]]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$TOKEN_FILE")
  fi
  chmod 0600 "$TOKEN_FILE"
  install -d -m 0755 "$HUB_CONFIG_D"
  cat >"$HUB_CONFIG_D/workshop-hub-service.py" <<'PY'
# Installed by workshop-hub: the control plane (hubagent, run as root through SSM) calls the hub's REST API
# with this service's token. The token file is root-only; the hub runs as root.
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub's config loader)
_token = Path("/etc/workshop-hub/hub-token").read_text(encoding="utf-8").strip()
# Append: TLJH already put its idle culler in this list, assigning would drop it.
# "admin": True gives the service the admin role the same way TLJH's culler gets it. An entry for the
# 'admin' role in c.JupyterHub.load_roles would instead pin that role's members to exactly the listed
# services (dropping the culler's admin) and to TLJH's admin_users (dropping admins made via the API).
c.JupyterHub.services.append({"name": "workshop-hub", "api_token": _token, "admin": True})
PY
  chmod 0644 "$HUB_CONFIG_D/workshop-hub-service.py"
}

install_login_page() {
  STEP="put the login rule on the hub's login page"
  install -d -m 0755 "$HUB_CONFIG_D"
  cat >"$HUB_CONFIG_D/workshop-hub-login.py" <<'PY'
# Installed by workshop-hub: participants read the password rule where they log in.
c = get_config()  # noqa: F821 (provided by JupyterHub's config loader)
c.JupyterHub.template_vars.update(
    {
        "announcement_login": (
            "First time here? Log in with the user name your instructor gave you. If you were also given a password, use it. If not, the first password you type (7 characters or more) becomes yours: remember it."
        )
    }
)

# FirstUse 1.1.1's _render takes no keywords; JupyterHub 5 renders login errors with sync=True (an empty 403).
from firstuseauthenticator import firstuseauthenticator as f  # noqa: E402
from jupyterhub.handlers.login import LoginHandler as L  # noqa: E402

f.CustomLoginHandler._render = lambda h, login_error=None, username=None, **k: L._render(
    h, h.custom_login_error or login_error, username, **k
)
PY
  chmod 0644 "$HUB_CONFIG_D/workshop-hub-login.py"
}

# Only CloudFront reaches port 80 (security group). Written before TLJH installs: proxy and hub start with it.
configure_hub_behind_cloudfront() {
  STEP="configure the hub behind CloudFront"
  install -d -m 0700 "$TRAEFIK_CONFIG_D"
  cat >"$TRAEFIK_CONFIG_D/workshop-hub-cloudfront.toml" <<'TOML'
# workshop-hub: keep CloudFront's X-Forwarded-Proto (https), do not overwrite it with http
[entryPoints.http.forwardedHeaders]
insecure = true
TOML
  install -d -m 0755 "$HUB_UNIT_D"
  cat >"$HUB_UNIT_D/workshop-hub-cloudfront.conf" <<'UNIT'
# workshop-hub: the login's XSRF token ignores the client address (a CloudFront server, it changes)
[Service]
Environment="JUPYTERHUB_XSRF_ANONYMOUS_IP_CIDRS=0.0.0.0/0;::/0"
UNIT
  cat >"$HUB_CONFIG_D/workshop-hub-proxy.py" <<'PY'
# workshop-hub: HTTPS only (CloudFront), so the XSRF cookie is Secure like the login cookies
c = get_config()  # noqa: F821
c.JupyterHub.tornado_settings.update({"xsrf_cookie_kwargs": {"secure": True}})
PY
  systemctl daemon-reload
}

install_tljh() {
  STEP="download TLJH's bootstrap.py"
  retry 3 10 curl --fail --silent --show-error --location --retry 5 --retry-connrefused --retry-delay 5 \
    --output "$WORK_DIR/bootstrap.py" "$TLJH_BOOTSTRAP_URL"
  if [[ ! -s $WORK_DIR/bootstrap.py ]]; then
    log "bootstrap.py is empty"
    return 1
  fi
  STEP="install TLJH $TLJH_VERSION"
  retry 3 20 tljh_installer
  rm -f "$WORK_DIR/admin-password"
}

install_packages() {
  if ((${#PIP_PACKAGES[@]} > 0)); then
    STEP="pip install into the user environment"
    retry 3 15 "$USER_ENV/bin/pip" install --no-input --progress-bar off "${PIP_PACKAGES[@]}"
  fi
  if ((${#CONDA_PACKAGES[@]} > 0)); then
    STEP="mamba install into the user environment"
    retry 3 15 "$USER_ENV/bin/mamba" install --yes --quiet "${CONDA_PACKAGES[@]}"
  fi
}

set_memory_limit() {
  if [[ -z $MEMORY_LIMIT ]]; then
    return 0
  fi
  STEP="limit each user's memory to $MEMORY_LIMIT"
  "$TLJH_CONFIG" set limits.memory "$MEMORY_LIMIT"
  timeout 300 "$TLJH_CONFIG" reload hub
}

install_cloudwatch_agent() {
  if [[ -z $CW_AGENT_CONFIG ]]; then
    return 0
  fi
  STEP="install the CloudWatch agent (memory and disk metrics)"
  local arch deb=$WORK_DIR/amazon-cloudwatch-agent.deb
  arch=$(dpkg --print-architecture)
  retry 3 10 curl --fail --silent --show-error --location --retry 5 --output "$deb" \
    "https://amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/ubuntu/$arch/latest/amazon-cloudwatch-agent.deb"
  dpkg -i -E "$deb"
  install -d -m 0755 "$CW_AGENT_DIR/etc"
  printf '%s\n' "$CW_AGENT_CONFIG" >"$CW_AGENT_DIR/etc/workshop-hub.json"
  "$CW_AGENT_DIR/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -s \
    -c "file:$CW_AGENT_DIR/etc/workshop-hub.json"
}

wait_for_hub() {
  STEP="wait for the hub to answer"
  # Through the proxy, as CloudFront reaches it.
  local url=http://127.0.0.1/hub/api code=""
  for _ in $(seq 1 60); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 5 "$url" || true)
    if [[ $code == 200 ]]; then
      install -d -m 0755 "$STATE_DIR"
      printf '{"ready_at": "%s", "tljh_version": "%s"}\n' "$(date -u +%FT%TZ)" "$TLJH_VERSION" >"$READY_MARKER"
      log "hub answers at $url"
      return 0
    fi
    sleep 5
  done
  log "the hub did not answer 200 at $url (last status: ${code:-none})"
  return 1
}

main() {
  log "bootstrap starts (TLJH $TLJH_VERSION, admin $ADMIN_USER)"
  STEP="wait for the Elastic IP"
  wait_for_elastic_ip
  block_metadata_for_users
  read_admin_password
  install_service_token
  install_login_page
  configure_hub_behind_cloudfront
  install_tljh
  install_packages
  set_memory_limit
  install_cloudwatch_agent
  wait_for_hub
  STEP="signal CloudFormation"
  signal_cloudformation SUCCESS "hub ready"
  rm -rf "$WORK_DIR"
  log "bootstrap done"
}

main "$@"
