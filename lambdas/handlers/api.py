"""The instructor's HTTP API: API Gateway (REST, IAM auth) proxy events in, the domain's answers out.

Thin on purpose: parse and check the request (api_models, with hubagent's rules), call one method of
the ControlPlane, shape the answer. Mutating routes answer 202 with the operation's id; the work runs
in the worker. The sandbox serves the same proxy events to ``handler`` behind a bearer token, so
nothing here assumes AWS beyond what ControlPlane.from_env() reads.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths
from hubagent import rules
from pydantic import BaseModel
from workshop_hub import api_models as models
from workshop_hub.errors import Conflict, InvalidRequest, Missing, Refused

from handlers.plane import control_plane

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="workshop-hub-api")
app = APIGatewayRestResolver(enable_validation=True)

_M = TypeVar("_M", bound=BaseModel)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# --- answers -------------------------------------------------------------------------------------


def _json(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def _problem(status: HTTPStatus, lines: list[str], **extra: Any) -> Response[Any]:
    body: dict[str, Any] = {
        "error": lines[0] if len(lines) == 1 else f"{lines[0]} (and {len(lines) - 1} more)"
    }
    if len(lines) > 1:
        body["errors"] = lines
    body.update(extra)
    return _json(status, body)


def _location(op_id: str) -> str:
    # The execute-api address carries the stage in its path; a custom domain or the sandbox does not.
    stage = app.current_event.request_context.stage
    prefix = f"/{stage}" if stage and stage != "$default" and _is_execute_api_host() else ""
    return f"{prefix}/operations/{op_id}"


def _is_execute_api_host() -> bool:
    host = app.current_event.request_context.domain_name or ""
    return ".execute-api." in host


def _operation_dict(op: Any) -> dict[str, Any]:
    to_dict = getattr(op, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if isinstance(op, dict):
        return op
    import dataclasses

    if dataclasses.is_dataclass(op) and not isinstance(op, type):
        return dataclasses.asdict(op)
    raise TypeError(f"cannot show operation {op!r}")


def _submit(kind: str, params: dict[str, Any], idempotency_key: str | None) -> Response[Any]:
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise rules.RuleError(
            "Idempotency-Key", idempotency_key, "must be 1-128 letters, digits, '.', '_', ':' or '-'"
        )
    op = _operation_dict(control_plane().submit(kind, params, idempotency_key=idempotency_key))
    op_id = str(op["id"])
    logger.info("operation submitted", extra={"kind": kind, "operation_id": op_id, "state": op.get("state")})
    return _json(
        HTTPStatus.ACCEPTED,
        models.Accepted(operation_id=op_id, state=str(op.get("state", "queued"))).model_dump(),
        headers={"Location": _location(op_id)},
    )


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


# --- routes --------------------------------------------------------------------------------------


@app.get("/status")
def get_status() -> Response[Any]:
    return _json(HTTPStatus.OK, control_plane().status())


@app.get("/users")
def list_users() -> Response[Any]:
    return _json(HTTPStatus.OK, {"users": control_plane().roster()})


@app.post("/users")
def add_users(
    body: Annotated[models.UsersAdd, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    return _submit("users-add", models.params_of(body), idempotency_key)


@app.post("/users/passwords")
def set_passwords(
    body: Annotated[models.UsersSetPasswords, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    return _submit("users-set-passwords", models.params_of(body), idempotency_key)


@app.delete("/users/<name>")
def remove_user(name: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    name = unquote(name)
    rules.check_username(name, "name")
    return _submit("users-remove", {"username": name}, idempotency_key)


@app.post("/instance/start")
def start(idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _submit("start", {}, idempotency_key)


@app.post("/instance/stop")
def stop(idempotency_key: IdempotencyKey = None) -> Response[Any]:
    body = _optional_body(models.Stop)
    return _submit("stop", models.params_of(body), idempotency_key)


@app.post("/instance/resize")
def resize(body: Annotated[models.Resize, Body()], idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _submit("resize", models.params_of(body), idempotency_key)


@app.post("/instance/keep-awake")
def keep_awake(
    body: Annotated[models.KeepAwake, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    return _submit("keep-awake", models.params_of(body), idempotency_key)


@app.post("/volume/grow")
def grow(body: Annotated[models.Grow, Body()], idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _submit("grow", models.params_of(body), idempotency_key)


@app.post("/data/sync")
def data_sync(
    body: Annotated[models.DataSync, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    return _submit("data-sync", models.params_of(body), idempotency_key)


@app.post("/packages")
def packages(
    body: Annotated[models.PackagesInstall, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    return _submit("packages", models.params_of(body), idempotency_key)


@app.post("/reconcile")
def reconcile(idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _submit("reconcile", {}, idempotency_key)


@app.delete("/packages/<spec>")
def forget_package(spec: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    spec = unquote(spec)
    manager = app.current_event.get_query_string_value("manager", "pip") or "pip"
    return _submit("packages-remove", {"spec": spec, "manager": manager}, idempotency_key)


@app.get("/operations")
def list_operations() -> Response[Any]:
    raw = app.current_event.get_query_string_value("limit", "20") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise rules.RuleError("limit", raw, "must be a whole number from 1 to 100")
    ops = control_plane().operations(int(raw))
    return _json(HTTPStatus.OK, {"operations": [op.summary() for op in ops]})


@app.get("/operations/<op_id>")
def get_operation(op_id: str) -> Response[Any]:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", op_id):
        raise rules.RuleError("operation id", op_id, "is not an operation id")
    op = control_plane().operation(op_id)
    if op is None:
        return _problem(HTTPStatus.NOT_FOUND, [f"no operation {op_id!r}"])
    return _json(HTTPStatus.OK, _operation_dict(op))


def _optional_body(model: type[_M]) -> _M:
    """Routes whose body may be left out (stop): no body is the model's defaults."""
    raw = app.current_event.body
    if raw is None or not raw.strip():
        return model()
    try:
        data = app.current_event.json_body
    except json.JSONDecodeError as err:
        raise _BadJson(err.msg) from None
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors()], body=data
        ) from None


class _BadJson(Exception):
    pass


# --- errors --------------------------------------------------------------------------------------


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``field: 'value' rule``."""
    loc = tuple(error.get("loc", ()))
    where = loc[0] if loc else "body"
    path = _path(loc[1:]) if where == "body" else _path(loc[1:]) or str(where)
    if where == "header":
        path = "Idempotency-Key" if path.lower().replace("_", "-") == "idempotency-key" else path
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, rules.RuleError | InvalidRequest):
        field = cause.field or path or "body"
        if cause.value is None:
            return f"{field}: {cause.rule}"
        return f"{field}: {rules.shown(cause.value)} {cause.rule}"
    kind = error.get("type")
    path = path or "body"
    if kind == "missing":
        return f"{path}: is required"
    if kind == "extra_forbidden":
        return f"{path}: is not a known field"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else message
    value = error.get("input")
    if isinstance(value, dict | list) or value is None:
        return f"{path}: {message}"
    return f"{path}: {rules.shown(value)} {message}"


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(err: RequestValidationError) -> Response[Any]:
    errors = list(err.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
        return _problem(HTTPStatus.BAD_REQUEST, [f"body: is not valid JSON ({detail})"])
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return _problem(HTTPStatus.BAD_REQUEST, ["body: a JSON object is required"])
    if any(e.get("type") in ("model_attributes_type", "dict_type") for e in errors):
        return _problem(HTTPStatus.BAD_REQUEST, ["body: must be a JSON object"])
    return _problem(HTTPStatus.UNPROCESSABLE_ENTITY, [describe(e) for e in errors])


@app.exception_handler(_BadJson)  # type: ignore[untyped-decorator]
def _bad_json(err: _BadJson) -> Response[Any]:
    return _problem(HTTPStatus.BAD_REQUEST, [f"body: is not valid JSON ({err})"])


@app.exception_handler(rules.RuleError)  # type: ignore[untyped-decorator]
def _rule_broken(err: rules.RuleError) -> Response[Any]:
    return _problem(HTTPStatus.UNPROCESSABLE_ENTITY, [str(err)])


@app.not_found
def _no_route(_: Exception) -> Response[Any]:
    event = app.current_event
    return _problem(HTTPStatus.NOT_FOUND, [f"no route {event.http_method} {event.path}"])


@app.exception_handler(InvalidRequest)  # type: ignore[untyped-decorator]
def _invalid_for_domain(err: InvalidRequest) -> Response[Any]:
    status = HTTPStatus.NOT_FOUND if isinstance(err, Missing) else HTTPStatus.UNPROCESSABLE_ENTITY
    return _problem(status, [str(err)])


@app.exception_handler(Conflict)  # type: ignore[untyped-decorator]
def _conflict(err: Conflict) -> Response[Any]:
    return _problem(HTTPStatus.CONFLICT, [str(err)], operation_id=err.operation_id)


@app.exception_handler(Refused)  # type: ignore[untyped-decorator]
def _refused(err: Refused) -> Response[Any]:
    possible_at = err.possible_at.isoformat(timespec="seconds") if err.possible_at else None
    return _problem(HTTPStatus.CONFLICT, [str(err)], possible_at=possible_at)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _bug(err: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    request_id = app.current_event.request_context.request_id
    return _problem(
        HTTPStatus.INTERNAL_SERVER_ERROR, [f"internal error (request id {request_id}); see the logs"]
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
