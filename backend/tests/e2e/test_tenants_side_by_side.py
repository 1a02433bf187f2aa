"""Two workspaces, one function name, two running functions (slow: two real builds).

The backend with the real infrastructure service and its local runtime (real componentize-py
builds, Debian's docker-registry, the wasmtime host), as `make run` wires them: workspaces A
and B each deploy a function named `hello` with a body of their own. Each answers its own body
at its own endpoint (and through the backend's invoke route), in its own namespace; deleting A
stops A's, and B's keeps answering.
"""

import httpx
import pytest

from tests.conftest import create_function, create_workspace
from tests.e2e.real_stack import real_stack
from tests.functions.conftest import body_app
from tests.tasks.conftest import upload, wait_for_task

pytestmark = pytest.mark.e2e

# The same two sources as test_revisions_e2e ("one", "two"): each workspace's function answers
# its own body, and the session's shared build and compiled caches spare a second real build.
BODIES = {"a": "one", "b": "two"}


async def test_same_named_functions_of_two_workspaces_answer_their_own_bodies(
    moto_server: str,
) -> None:
    async with real_stack(moto_server) as real:
        api = real.api
        deployed = {}
        for team in ("a", "b"):
            workspace = await create_workspace(api, team)
            function = await create_function(api, workspace["id"], "hello")
            body = BODIES[team].encode()
            response = await upload(
                api, workspace["id"], content=body_app(BODIES[team]),
                path=f"/api/functions/{function['id']}/deploy",
            )  # fmt: skip
            assert response.status_code == 202, response.text
            deployed[team] = (workspace, response.json()["task_id"], body)
        tasks = {
            team: await wait_for_task(api, task_id, timeout=600)
            for team, (_, task_id, _) in deployed.items()
        }
        for team, task in tasks.items():
            assert task["status"] == "completed", task
            workspace = deployed[team][0]
            assert task["result"]["deployment"]["namespace"] == f"faas-{workspace['id']}"
            assert f"/{workspace['id']}/hello@sha256:" in task["result"]["image_url"]
        endpoints = {team: task["result"]["endpoint"] for team, task in tasks.items()}
        assert endpoints["a"] != endpoints["b"]
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            for team, (_, _, body) in deployed.items():
                answer = await http.get(endpoints[team] + "/")
                assert (answer.status_code, answer.content) == (200, body)
                # And through the backend's invoke route, by the function's own id.
                function_id = tasks[team]["function_id"]
                proxied = await api.get(f"/api/functions/{function_id}/invoke/")
                assert (proxied.status_code, proxied.content) == (200, body)

            workspace_a = deployed["a"][0]
            gone = await api.delete(
                f"/api/workspaces/{workspace_a['id']}", params={"cascade": True}
            )
            assert gone.status_code == 204, gone.text
            after = await http.get(endpoints["a"] + "/")
            assert after.status_code == 404 and after.json()["code"] == "FUNCTION_NOT_DEPLOYED"
            still = await http.get(endpoints["b"] + "/")
            assert (still.status_code, still.content) == (200, deployed["b"][2])
