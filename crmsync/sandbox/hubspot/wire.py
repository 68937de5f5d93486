"""HubSpot's wire shapes shared by the sandbox routes: error bodies, batch envelopes, inputs."""

from __future__ import annotations

import json
import time
import uuid

from crmsync.sandbox.http import HttpError, Request, Response
from crmsync.sandbox.hubspot.store import iso


def correlation_id() -> str:
    """A fresh id, as HubSpot puts in every error body."""
    return str(uuid.uuid4())


def error_body(message: str, category: str = "VALIDATION_ERROR", **extra: object) -> dict:
    """A top-level HubSpot error (the SDK's ``Error`` model)."""
    return {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
        **extra,
    }


def bad_request(message: str, category: str = "VALIDATION_ERROR", **extra: object) -> HttpError:
    """A 400 with HubSpot's error body."""
    return HttpError(400, error_body(message, category, **extra))


def not_found(message: str = "resource not found") -> HttpError:
    """A 404 with HubSpot's error body."""
    return HttpError(404, error_body(message, "OBJECT_NOT_FOUND"))


def record_error(
    message: str, category: str, context: dict[str, list[str]], details: list | None = None
) -> dict:
    """One entry of a batch response's ``errors`` (the SDK's ``StandardError``)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": details or [],
        "links": {},
    }


def property_error(problems: list[dict], context: dict[str, list[str]]) -> dict:
    """A per-record VALIDATION_ERROR worded like HubSpot's "Property values were not valid"."""
    results = [
        {
            "isValid": False,
            "message": p["message"],
            "error": p["error"],
            "name": p["name"],
            "localizedErrorMessage": p["message"],
        }
        for p in problems
    ]
    details = [
        {
            "message": p["message"],
            "code": p["error"],
            "in": p["name"],
            "context": {"propertyName": [p["name"]]},
        }
        for p in problems
    ]
    return record_error(
        f"Property values were not valid: {json.dumps(results)}", "VALIDATION_ERROR", context, details
    )


def now_ms() -> int:
    """Wall-clock milliseconds, for batch envelopes."""
    return int(time.time() * 1000)


def batch_response(
    results: list[dict], errors: list[dict], started_ms: int, ok_status: int = 200
) -> Response:
    """A batch envelope: ``ok_status`` when every input succeeded, 207 Multi-Status with ``errors`` if not."""
    body: dict = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(started_ms),
        "completedAt": iso(now_ms()),
    }
    if not errors:
        return Response(ok_status, body)
    body.update(errors=errors, numErrors=len(errors))
    return Response(207, body)


def json_body(request: Request) -> dict:
    """The request's JSON object, or a HubSpot-shaped 400."""
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise bad_request(f"Invalid input JSON on line 1: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("Invalid input JSON: expected an object")
    return body


def batch_inputs(request: Request, limit: int) -> tuple[dict, list[dict]]:
    """The body and its ``inputs``, rejected with 400 beyond HubSpot's batch limit."""
    body = json_body(request)
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise bad_request("Invalid input JSON: 'inputs' must be a list")
    if len(inputs) > limit:
        raise bad_request(f"Too many inputs: {len(inputs)}. A batch may hold at most {limit} inputs.")
    return body, inputs


def query_list(request: Request, name: str) -> list[str]:
    """A repeated or comma-separated query parameter (``properties=a,b&properties=c``)."""
    return [part for value in request.query.get(name, []) for part in value.split(",") if part]


def query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter."""
    return (request.arg(name) or "").lower() == "true"
