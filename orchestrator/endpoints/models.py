"""The app API's messages (pydantic): what it answers, and its errors.  The OpenAPI document's
schemas are generated from these (orchestrator.endpoints.openapi); a request body is validated with
the resource models themselves (spec.users is `UserDistribution`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from orchestrator.resources import UserDistribution


class Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Port(Message):
    """A port of the workload: `port` on its Service, `targetPort` on a replica's Pod IP."""

    name: str | None = Field(default=None, description="Name of the port.")
    port: int = Field(description="Port of the Service.")
    target_port: int = Field(description="Port on the Pod IP (the container port).")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(description="TCP, UDP or SCTP.")


class Endpoint(Message):
    """The replica that serves the users of one radio cell (as in ETSI MEC 011's transport info of a
    service instance): where it runs and how to reach it."""

    namespace: str
    workload: str = Field(description="Name of the EdgeWorkload.")
    cell: str = Field(description="Radio cell whose users this replica serves.")
    site: str = Field(description="EdgeSite of the replica.")
    node: str = Field(description="Node of the replica.")
    pod: str | None = Field(default=None, description="Name of the replica Pod (unset: not made yet).")
    pod_ip: str | None = Field(default=None, alias="podIP", description="IP of the replica Pod (unset: none yet).")
    ready: bool = Field(description="Whether the Pod is Ready.")
    replica: int | None = Field(default=None, description="Index of the replica in the placement.")
    latency_ms: float | None = Field(default=None, description="Predicted latency from the cell in milliseconds.")
    ports: list[Port] = Field(default_factory=list, description="Ports on the Pod IP and the Service.")
    service: str | None = Field(default=None, description="DNS name of the workload's Service (unset: none).")


class EndpointList(Message):
    """Every cell's endpoint of a workload."""

    namespace: str
    workload: str
    generation: int | None = Field(default=None, description="metadata.generation of the EdgeWorkload.")
    endpoints: list[Endpoint]


class Relocation(Message):
    """A cell's serving replica changed (sent on the watch stream as an event `relocation`)."""

    cell: str
    previous: Endpoint | None = Field(default=None, description="The replica that served the cell (unset: none).")
    current: Endpoint | None = Field(default=None, description="The replica that serves it now (unset: none).")


class WorkloadDeleted(Message):
    """The EdgeWorkload went (sent on the watch stream as an event `deleted`, its last)."""

    namespace: str
    workload: str = Field(description="Name of the EdgeWorkload.")


# The watch stream's events: each one's name (the SSE `event` field) and the model of its data
# (the `data` field, as JSON); the OpenAPI document describes the stream from this table, and the
# book makes every event it sends from it (`book.notice`).
WATCH_EVENTS: dict[str, type[Message]] = {
    "endpoint": Endpoint,  # a cell's endpoint: the current map at the start, then its IP or readiness changed
    "relocation": Relocation,  # a cell's serving replica changed
    "resync": EndpointList,  # the watcher fell behind: the whole map once
    "deleted": WorkloadDeleted,  # the workload went; the stream ends
}


class UsersResult(Message):
    """The EdgeWorkload's user distribution after an update (the controller solves it again)."""

    namespace: str
    workload: str
    generation: int | None = Field(default=None, description="metadata.generation after the update.")
    users: UserDistribution


class Error(Message):
    """Every error: what went wrong and which field of the request it concerns."""

    error: str = Field(description="What went wrong, and how to fix it.")
    field: str | None = Field(description="The field of the request it concerns (path parameter, query "
                                          "parameter, header, or a path in the body such as cells[0].share).")
