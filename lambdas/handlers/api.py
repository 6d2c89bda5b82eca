"""The instructor's HTTP API: API Gateway (REST, IAM auth) proxy events in, the domain's answers out.

Thin on purpose: read the request, call one method of the ControlPlane, shape the answer. Each kind the
instructor asks for has its route from the kind itself (``Instructor.route`` in workshop_hub/kinds): its
parameters come from the path, the JSON body (POST) or the query string (DELETE) and are checked by the
kind's params model inside ``submit``, which answers 202 with the operation's id; the work runs in the
worker. The sandbox serves the same proxy events to ``handler`` behind a bearer token, so nothing here
assumes AWS beyond what handlers/plane.py wires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from hubagent import rules
from workshop_hub.errors import Conflict, InvalidRequest, Missing, Refused, Unavailable
from workshop_hub.kinds.kind import Kind, Route
from workshop_hub.kinds.registry import REQUESTED
from workshop_hub.operations import Operation

from handlers.plane import control_plane

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="workshop-hub-api")
app = APIGatewayRestResolver()

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BadBody(Exception):
    """The body is not what the route takes (no JSON object where one is required): 400."""


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
    host = app.current_event.request_context.domain_name or ""
    prefix = f"/{stage}" if stage and stage != "$default" and ".execute-api." in host else ""
    return f"{prefix}/operations/{op_id}"


# --- the operations the instructor asks for -------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object hook: a key given twice is refused (the last would silently win)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise BadBody(f"body: the key {rules.shown(key)} is given twice (give each field once)")
        seen[key] = value
    return seen


def parse_json(raw: str) -> Any:
    """The body as JSON, or BadBody saying why not: never a 500, whatever the text."""
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as err:
        raise BadBody(f"body: is not valid JSON ({err.msg}, at character {err.pos})") from None
    except RecursionError:
        raise BadBody("body: is nested too deeply to be a request") from None
    except ValueError as err:  # e.g. a number of more than 4300 digits
        raise BadBody(f"body: is not a request: {str(err)[:120]}") from None


def _raw_body() -> str | None:
    try:
        raw = app.current_event.decoded_body
    except ValueError:  # base64 that does not decode to UTF-8 text
        raise BadBody("body: is not valid JSON (not UTF-8 text)") from None
    return raw if raw is not None and raw.strip() else None


def _body(route: Route) -> dict[str, Any]:
    """The JSON object the request carries ({} when it carries nothing and may); BadBody otherwise. A
    route that takes no fields ("none") still parses it: its params model refuses every field, by name."""
    raw = _raw_body()
    if raw is None:
        if route.body == "required":
            raise BadBody("body: a JSON object is required")
        return {}
    data = parse_json(raw)
    if data is None and route.body != "required":
        return {}  # JSON null: nothing, as an empty body
    if not isinstance(data, dict):
        raise BadBody("body: must be a JSON object")
    return data


def _no_body() -> None:
    """GET and DELETE take nothing in the body (JSON null counts as nothing, as for the other routes)."""
    raw = _raw_body()
    if raw is not None and raw.strip() != "null":
        event = app.current_event
        raise BadBody(f"body: {event.http_method} {event.path} takes no body")


def _query(known: Sequence[str]) -> dict[str, str]:
    """The query string's parameters, each one of ``known`` (another is refused, naming it); an empty
    one is left out."""
    given = app.current_event.query_string_parameters or {}
    unknown = sorted(set(given) - set(known))
    if unknown:
        fields = ", ".join(known) or "none"
        raise InvalidRequest(unknown[0], f"is not a known query parameter here (parameters: {fields})")
    return {name: value for name, value in given.items() if value}


def _idempotency_key() -> str | None:
    key = app.current_event.get_header_value("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise rules.RuleError("Idempotency-Key", key, "must be 1-128 letters, digits, '.', '_', ':' or '-'")
    return key


def _accepted(op: Operation) -> Response[Any]:
    return _json(
        HTTPStatus.ACCEPTED,
        {"operation_id": op.id, "state": op.state},
        headers={"Location": _location(op.id)},
    )


def _operation_route(kind: Kind) -> None:
    """POST/DELETE on the kind's path submits the kind with the request's parameters."""
    asked = kind.instructor
    assert asked is not None
    route = asked.route

    in_path = set(re.findall(r"{(\w+)}", route.path))
    in_query = [name for name in kind.params.model_fields if name not in in_path]

    def submit(**in_path: str) -> Response[Any]:
        params: dict[str, Any] = {name: unquote(value) for name, value in in_path.items()}
        if route.method == "DELETE":
            _no_body()
            params |= _query(in_query)
        else:
            _query(())
            params |= _body(route)
        op = control_plane().submit(kind.name, params, idempotency_key=_idempotency_key())
        logger.info(
            "operation submitted", extra={"kind": kind.name, "operation_id": op.id, "state": op.state}
        )
        return _accepted(op)

    # Powertools spells a path parameter <name>.
    app.route(route.path.replace("{", "<").replace("}", ">"), method=route.method)(submit)


for _kind in REQUESTED:
    _operation_route(_kind)


# --- reading ---------------------------------------------------------------------------------------


@app.get("/status")
def get_status() -> Response[Any]:
    _no_body()
    _query(())
    return _json(HTTPStatus.OK, control_plane().status())


@app.get("/users")
def list_users() -> Response[Any]:
    _no_body()
    _query(())
    return _json(HTTPStatus.OK, control_plane().roster_now())


@app.get("/operations")
def list_operations() -> Response[Any]:
    _no_body()
    _query(("limit",))
    raw = app.current_event.get_query_string_value("limit", "20") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise rules.RuleError("limit", raw, "must be a whole number from 1 to 100")
    ops = control_plane().operations(int(raw))
    return _json(HTTPStatus.OK, {"operations": [op.summary() for op in ops]})


@app.get("/operations/<op_id>")
def get_operation(op_id: str) -> Response[Any]:
    _no_body()
    _query(())
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", op_id):
        raise rules.RuleError("operation id", op_id, "is not an operation id")
    op = control_plane().operation(op_id)
    if op is None:
        return _problem(HTTPStatus.NOT_FOUND, [f"no operation {op_id!r}"])
    return _json(HTTPStatus.OK, op.to_dict())


# --- errors --------------------------------------------------------------------------------------


@app.exception_handler(BadBody)  # type: ignore[untyped-decorator]
def _bad_body(err: BadBody) -> Response[Any]:
    return _problem(HTTPStatus.BAD_REQUEST, [str(err)])


@app.exception_handler(rules.RuleError)  # type: ignore[untyped-decorator]
def _rule_broken(err: rules.RuleError) -> Response[Any]:
    return _problem(HTTPStatus.UNPROCESSABLE_ENTITY, [str(err)])


@app.not_found
def _no_route(_: Exception) -> Response[Any]:
    event = app.current_event
    return _problem(HTTPStatus.NOT_FOUND, [f"no route {event.http_method} {event.path}"])


@app.exception_handler(InvalidRequest)  # type: ignore[untyped-decorator]
def _invalid(err: InvalidRequest) -> Response[Any]:
    status = HTTPStatus.NOT_FOUND if isinstance(err, Missing) else HTTPStatus.UNPROCESSABLE_ENTITY
    return _problem(status, [str(problem) for problem in err.problems])


@app.exception_handler(Conflict)  # type: ignore[untyped-decorator]
def _conflict(err: Conflict) -> Response[Any]:
    return _problem(HTTPStatus.CONFLICT, [str(err)], operation_id=err.operation_id)


@app.exception_handler(Refused)  # type: ignore[untyped-decorator]
def _refused(err: Refused) -> Response[Any]:
    possible_at = err.possible_at.isoformat(timespec="seconds") if err.possible_at else None
    return _problem(HTTPStatus.CONFLICT, [str(err)], possible_at=possible_at)


@app.exception_handler(Unavailable)  # type: ignore[untyped-decorator]
def _unavailable(err: Unavailable) -> Response[Any]:
    # 503: hubctl (and any client) tries again; the retry is a new request (its key was released).
    answer = _problem(HTTPStatus.SERVICE_UNAVAILABLE, [str(err)], operation_id=err.operation_id)
    answer.headers["Retry-After"] = "5"
    return answer


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
