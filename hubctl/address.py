"""Whether the hub answers at the address participants use (``hubctl status``): over https, its
certificate checked (CloudFront's on AWS; in the sandbox, against the sandbox's own CA).

The API's health check runs on the instance itself; this one goes the participants' way, through the
front, so a broken distribution or an untrusted certificate shows before the room finds it.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_S = 5.0
USER_AGENT = "hubctl (address check)"


def check(hub_url: str, ca_file: Path | None = None, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """GET HUB/hub/api as a browser would reach it: {"url", "ok", "detail"}; never raises."""
    url = hub_url.rstrip("/") + "/hub/api"
    result: dict[str, Any] = {"url": url, "ok": False}
    if not url.startswith("https://"):
        result["detail"] = "not https: participants' passwords would cross the network in clear"
        return result
    context = ssl.create_default_context(cafile=os.fspath(ca_file) if ca_file else None)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as reply:  # noqa: S310
            version = json.loads(reply.read() or b"{}").get("version", "?")
    except urllib.error.HTTPError as err:
        result["detail"] = f"answers {err.code} (the hub behind it may be starting or stopped)"
        return result
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            trust = f" against {ca_file}" if ca_file else ""
            result["detail"] = f"its certificate is not trusted{trust}: {reason.verify_message}"
        else:
            result["detail"] = f"does not answer: {reason}"
        return result
    except (OSError, ValueError) as err:
        result["detail"] = f"does not answer: {err}"
        return result
    result.update(ok=True, detail=f"answers over https, certificate valid (JupyterHub {version})")
    return result
