"""GET /metrics: the replica's metrics in the Prometheus text format.

Open by default, as exporters usually are (scraped from inside the cluster; keep the port off
the public ingress). With `METRICS_TOKEN` set, a scrape must send `Authorization: Bearer
<token>` (Prometheus: `authorization: {credentials: …}`).
"""

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.errors import Unauthorized
from app.observability.metrics import REGISTRY

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics of this replica",
)
async def metrics(request: Request) -> Response:
    """Tasks, stages, polls, infrastructure calls, uploads, event streams, invocations."""
    token = request.app.state.container.settings.metrics_token
    if token is not None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        expected = token.get_secret_value()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), expected):
            raise Unauthorized("GET /metrics needs the metrics token", code="UNAUTHORIZED")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
