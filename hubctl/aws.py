"""hubctl's way to AWS: boto3 clients and SigV4 signatures.

boto3 is imported on first use, here only: about 65 ms (and botocore's signer 30 ms more) that
``hubctl --help`` and every command against the sandbox (a bearer token, no AWS) never pay, measured on
top of ``import hubctl.cli``, best of 12 fresh interpreters.
"""

from __future__ import annotations

from typing import Any

from hubctl.errors import AuthError


def client(
    service: str,
    region: str,
    endpoint_url: str | None = None,
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> Any:
    """A boto3 client in ``region``: AWS with the default credential chain, or (``endpoint_url``) the
    sandbox's moto server with the sandbox's own key."""
    import boto3  # ~65 ms: only commands that ask AWS pay it

    if endpoint_url is None:
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    )


def credentials_found() -> bool:
    """Whether the default credential chain finds any (the environment, a profile, SSO, a role)."""
    import boto3  # ~65 ms, only when AWS may be asked

    return boto3.Session().get_credentials() is not None


def signed_headers(
    method: str, url: str, data: bytes | None, headers: dict[str, str], region: str
) -> dict[str, str]:
    """``headers`` with a SigV4 signature for execute-api in ``region``, from your AWS credentials."""
    import boto3  # ~65 ms, and botocore's signer ~30 ms: only a request to AWS pays them
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise AuthError(
            "no AWS credentials found", "configure them (aws configure, aws sso login, or AWS_PROFILE)"
        )
    request = AWSRequest(method=method, url=url, data=data or b"", headers=dict(headers))
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())
