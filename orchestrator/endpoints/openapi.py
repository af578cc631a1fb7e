"""The app API's OpenAPI 3.2 document (served at /openapi.json): paths and parameters written here,
schemas generated from the pydantic models the API answers with and validates against, and the
watch stream's events (`itemSchema` of text/event-stream, one per Server-Sent Event) from the table
of its events (models.WATCH_EVENTS)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from orchestrator.endpoints.models import WATCH_EVENTS, Error, UsersResult
from orchestrator.resources import UserDistribution
from orchestrator.resources.common import DNS_LABEL, DNS_SUBDOMAIN

BASE = "/apis/v1/namespaces/{namespace}/edgeworkloads/{name}"
MAX_TIMEOUT_S = 300


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    what = {400: "A parameter or the body is malformed", 401: "No token, or one the API server does not accept",
            403: "The caller may not do this in the namespace (SubjectAccessReview)",
            404: "No such EdgeWorkload, or no replica serves the cell", 409: "The EdgeWorkload kept changing",
            413: "The body is too large", 415: "The body is not JSON", 422: "The body is not a valid user distribution",
            503: "The Kubernetes API server could not be reached"}
    return {str(c): {"description": what[c], "content": {"application/json": {"schema": _ref("Error")}}} for c in codes}


PATH_PARAMETERS = [
    {"name": "namespace", "in": "path", "required": True, "description": "Namespace of the EdgeWorkload.",
     "schema": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL}},
    {"name": "name", "in": "path", "required": True, "description": "Name of the EdgeWorkload.",
     "schema": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN}},
]


def watch_event() -> dict[str, Any]:
    """One Server-Sent Event of the watch stream, as OpenAPI 3.2 reads an event (its fields `event`,
    `data`, `id`; a comment line is no event): one of WATCH_EVENTS, its data that model as JSON."""
    return {
        "description": "An event of the watch stream: `event` names it, `data` is its JSON, `id` the "
                       "EdgeWorkload's resourceVersion (a `deleted` event sets none; the last one stands).",
        "oneOf": [{"type": "object", "title": event, "required": ["event", "data"],
                   "properties": {"event": {"const": event}, "id": {"type": "string"},
                                  "data": {"type": "string", "contentMediaType": "application/json",
                                           "contentSchema": _ref(model.__name__)}}}
                  for event, model in WATCH_EVENTS.items()],
    }


def document() -> dict[str, Any]:
    answered: list[type[BaseModel]] = [*WATCH_EVENTS.values(), UsersResult, Error]
    _, defs = models_json_schema(
        [(m, "serialization") for m in answered] + [(UserDistribution, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.2.0",
        "info": {
            "title": "edgeorch app API", "version": "v1",
            "description": "Which replica of an EdgeWorkload serves a radio cell, the workload's user distribution, "
                           "and relocation notices (in the spirit of ETSI MEC 011 and 021).  Kubernetes bearer "
                           "tokens; rights are those on edgeworkloads.edgeorch.io in the namespace.",
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            f"{BASE}/endpoints": {
                "parameters": PATH_PARAMETERS,
                "get": {
                    "operationId": "getEndpoints",
                    "summary": "The replica that serves a cell (or every cell); with watch=true, a stream of changes",
                    "description": "Needs `get` on the EdgeWorkload (`watch` with watch=true).  The stream "
                                   "(Server-Sent Events, each a WatchEvent) starts with an `endpoint` event per "
                                   "cell, then sends `relocation` (the serving replica changed: data is a "
                                   "Relocation), `endpoint` (its IP or readiness changed), `resync` (an "
                                   "EndpointList), `deleted` (a WorkloadDeleted; the stream ends there); it ends "
                                   "after timeoutSeconds.  An idle stream gets a comment line now and then.",
                    "parameters": [
                        {"name": "cell", "in": "query", "required": False,
                         "description": "A radio cell of the workload's users (spec.users.cells).",
                         "schema": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL}},
                        {"name": "watch", "in": "query", "required": False,
                         "description": "Stream changes (text/event-stream) instead of answering once.",
                         "schema": {"type": "boolean"}},
                        {"name": "timeoutSeconds", "in": "query", "required": False,
                         "description": f"How long a watch lasts (default and most {MAX_TIMEOUT_S} s).",
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_S}},
                    ],
                    "responses": {
                        "200": {"description": "The cell's endpoint (with cell), every cell's (without); or the stream",
                                "content": {"application/json": {"schema": {"anyOf": [_ref("Endpoint"),
                                                                                      _ref("EndpointList")]}},
                                            "text/event-stream": {"itemSchema": _ref("WatchEvent")}}},
                        **_errors(400, 401, 403, 404, 503),
                    },
                },
            },
            f"{BASE}/users": {
                "parameters": PATH_PARAMETERS,
                "put": {
                    "operationId": "putUsers",
                    "summary": "Set the workload's user distribution (users moved between cells)",
                    "description": "Needs `update` on the EdgeWorkload.  Written as an update of its spec.users "
                                   "with the caller's own token (the API server validates and audits it as the "
                                   "caller's); the operator then places the workload again.",
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": _ref("UserDistribution")}}},
                    "responses": {
                        "200": {"description": "Written", "content": {"application/json": {"schema": _ref("UsersResult")}}},
                        **_errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
                    },
                },
            },
            "/openapi.json": {
                "get": {"operationId": "getOpenApi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "The OpenAPI document",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}},
            },
        },
        "components": {
            "schemas": {**defs.get("$defs", {}), "WatchEvent": watch_event()},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A Kubernetes token (e.g. kubectl create token SA)."}},
        },
    }
