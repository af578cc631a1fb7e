"""The app API's watch stream against the OpenAPI document it publishes.  The fuzz run failed now and
then with "SSE event violates schema": the document said a text/event-stream was `{"type": "string"}`,
which schemathesis (as OpenAPI reads an event stream) applies to every event, so any stream a case got
(an editor's token, watch=true, no cell: a few cases in a run) failed.  Here, in process and without a
cluster: the real AppApi on loopback, its book fed by hand so that it sends every kind of event (an
`endpoint` with a null IP, `relocation`s with a null side, `resync`, `deleted`), each validated by
schemathesis against the document the server serves; and that document refuses what must not be sent."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest
import requests
import schemathesis
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from orchestrator.endpoints.api import AppApi
from orchestrator.endpoints.book import QUEUE_SIZE, EndpointBook
from orchestrator.endpoints.models import WATCH_EVENTS
from orchestrator.endpoints.openapi import document as published
from orchestrator.kube.access import Access, Caller
from tests.endpoints.conftest import book_body, events, serving_entry

PATH = "/apis/v1/namespaces/city/edgeworkloads/cam/endpoints"
CHECKS = [content_type_conformance, response_schema_conformance]


class AllowAll:
    """Stands for orchestrator.kube.access.Access: every token is the user `app`'s, who may do anything."""

    async def review_token(self, token: str) -> Caller | None:
        return Caller("app")

    async def allowed(self, caller: Caller, verb: str, plural: str, namespace: str, name: str) -> tuple[bool, str]:
        return True, ""


def _moves(book: EndpointBook) -> int:
    """Changes of city/cam after version 1 (cell-a at s1, cell-b not Ready at s1): 4 notices."""
    book.observe("MODIFIED", book_body([serving_entry("cell-a", "p1", "s1", "10.0.0.2"),  # endpoint: a new IP
                                        serving_entry("cell-b", "p2", "s2", "10.0.0.3")], "2"))  # relocation
    book.observe("MODIFIED", book_body([serving_entry("cell-a", "p1", "s1", "10.0.0.2"),
                                        serving_entry("cell-c", "p3", "s3", "10.0.0.4")], "3",
                                       {"cell-a": 0.5, "cell-c": 0.5}))  # users left cell-b, came to cell-c
    return 4


def _flood_and_delete(book: EndpointBook) -> None:
    """More changes than a watcher may lag behind (it is sent the whole map once), then the deletion."""
    for i in range(QUEUE_SIZE + 5):
        book.observe("MODIFIED", book_body([serving_entry("cell-a", f"p{4 + i % 2}", "s1", "10.0.0.5")],
                                           str(4 + i), {"cell-a": 1.0}))
    book.observe("DELETED", book_body([], str(QUEUE_SIZE + 9)))


async def _watch() -> tuple[dict[str, Any], Response]:
    """The published document, and a whole watch stream of city/cam while `_feed` changes it."""
    book = EndpointBook()
    book.observe(None, book_body([serving_entry("cell-a", "p1", "s1", "10.0.0.1"), serving_entry("cell-b", "p1", "s1")]))
    async with TestServer(AppApi(book, cast(Access, AllowAll())).app(), host="127.0.0.1") as server, \
            ClientSession() as session:
        async with session.get(server.make_url("/openapi.json")) as got:
            document = await got.json()
        headers = {"Authorization": "Bearer t"}
        async with session.get(server.make_url(PATH), params={"watch": "true", "timeoutSeconds": "60"},
                               headers=headers) as stream:
            assert stream.status == 200, await stream.text()
            body = await stream.content.readuntil(b"\n\n")  # the map is sent: the watcher is in the book
            for _ in range(1 + _moves(book)):  # the map's second cell, and the moves, before the flood
                body += await stream.content.readuntil(b"\n\n")
            _flood_and_delete(book)
            body += await stream.content.read()  # the stream ends with `deleted`
            content_type = stream.headers["Content-Type"]
    return document, _response(body, content_type)


def _response(body: bytes, content_type: str = "text/event-stream") -> Response:
    """A 200 answer to the watch, as schemathesis holds one."""
    request = requests.Request("GET", f"http://127.0.0.1{PATH}?watch=true").prepare()
    return Response(status_code=200, headers={"content-type": [content_type]}, content=body, request=request,
                    elapsed=0.0, verify=True, message="OK", http_version="1.1", encoding="utf-8")


def _case(document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(document)
    get = next(op.ok() for op in schema.get_all_operations() if op.ok().path.endswith("/endpoints"))
    return get.Case(path_parameters={"namespace": "city", "name": "cam"},
                    query={"watch": "true", "timeoutSeconds": 60})


async def test_every_kind_of_watch_event_conforms_to_the_published_document() -> None:
    document, response = await _watch()
    sent = list(events(iter(response.content.decode().split("\n"))))
    kinds = Counter(kind for kind, _ in sent)
    assert set(kinds) == set(WATCH_EVENTS) and kinds["resync"] == 1 and kinds["deleted"] == 1, kinds
    assert sent[-1] == ("deleted", {"namespace": "city", "workload": "cam"})
    assert any(kind == "endpoint" and data["podIP"] is None for kind, data in sent)  # cell-b, not Ready yet
    relocations = [data for kind, data in sent if kind == "relocation"]
    assert any(r["previous"] is None for r in relocations) and any(r["current"] is None for r in relocations)
    _case(document).validate_response(response, checks=CHECKS)  # each event, by schemathesis, as the fuzz run


@pytest.mark.parametrize("event", [
    b"event: heartbeat\ndata: {}\n\n",  # a kind of event the document does not name
    b'event: deleted\ndata: {"namespace":"city"}\n\n',  # a field missing
    b'event: endpoint\nid: 9\ndata: {"cell":"cell-a","previous":null,"current":null}\n\n',  # another's data
    b"event: resync\ndata: not json\n\n",
])
def test_the_document_refuses_an_event_the_server_must_not_send(event: bytes) -> None:
    case = _case(published())
    case.validate_response(_response(b'event: deleted\ndata: {"namespace":"city","workload":"cam"}\n\n'),
                           checks=CHECKS)
    with pytest.raises(FailureGroup) as refused:
        case.validate_response(_response(event), checks=CHECKS)
    assert all("SSE event" in failure.title for failure in refused.value.exceptions), refused.value
