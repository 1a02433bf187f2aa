"""`host serve` with the probe component: answers, logs, grants, limits, over real HTTP."""

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runtime.hosting import Component, Host, locked_app, running_host, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host(
    probe: Component, compiled_cache: Path, upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Host]:
    """One replica for the module: kv granted, outbound allowed to the upstream only."""
    config = write_config(
        tmp_path_factory.mktemp("serve"),
        probe,
        compiled_cache,
        locked_app=locked_app(
            "probe", probe.sha256, allowed_outbound_hosts=[upstream], key_value_stores=["default"]
        ),
    )
    with running_host(config) as running:
        yield running


def test_ready_line_names_the_port_and_the_load(host: Host) -> None:
    assert host.ready is not None
    assert host.ready["port"] > 0 and host.ready["pid"] == host.process.pid
    assert host.ready["load_ms"] > 0 and isinstance(host.ready["compiled_from_cache"], bool)


def test_hello_answers_with_a_fresh_invocation_id(host: Host, client: httpx.Client) -> None:
    first = client.get(f"{host.url}/hello")
    second = client.get(f"{host.url}/hello")
    assert first.status_code == 200 and first.text == "hello from probe\n"
    assert first.headers["content-type"] == "text/plain"
    assert first.headers["x-invocation-id"] != second.headers["x-invocation-id"]
    record = host.invocation(first.headers["x-invocation-id"])
    assert record["method"] == "GET" and record["path"] == "/hello"
    assert record["status"] == 200 and record["error_code"] is None and record["duration_ms"] > 0


def test_echo_passes_method_uri_headers_body_and_status(host: Host, client: httpx.Client) -> None:
    answer = client.put(
        f"{host.url}/echo?status=201&x=1", content=b"the body", headers={"X-Custom": "yes"}
    )
    assert answer.status_code == 201 and answer.headers["x-probe"] == "echo"
    seen = answer.json()
    assert seen["method"] == "PUT" and seen["uri"] == "/echo?status=201&x=1"
    assert seen["body"] == "the body" and seen["headers"]["x-custom"] == "yes"
    # Spin's HTTP trigger headers reach the component as well.
    assert seen["headers"]["spin-path-info"] == "/echo"
    assert seen["headers"]["spin-full-url"].endswith("/echo?status=201&x=1")
    assert seen["headers"]["spin-matched-route"] == "/..."


def test_guest_output_becomes_log_lines_under_the_callers_invocation_id(
    host: Host, client: httpx.Client
) -> None:
    answer = client.get(f"{host.url}/print", headers={"X-Invocation-Id": "inv-print-1"})
    assert answer.headers["x-invocation-id"] == "inv-print-1"
    logs = host.logs("inv-print-1")
    assert [(e["stream"], e["message"]) for e in logs] == [
        ("stdout", "line one from the guest"),
        ("stderr", "line two to stderr"),
    ]
    assert all(e["time"].endswith("Z") for e in logs)


def test_variables_fill_the_component_config_templates(host: Host, client: httpx.Client) -> None:
    assert client.get(f"{host.url}/var?name=greeting").text == "hello world!"
    assert client.get(f"{host.url}/var?name=fallback").text == "from-default"


def test_a_variable_without_a_value_raises_in_the_guest_with_the_reason(
    host: Host, client: httpx.Client
) -> None:
    answer = client.get(f"{host.url}/var?name=unset")
    assert answer.status_code == 500
    messages = [e["message"] for e in host.logs(answer.headers["x-invocation-id"])]
    assert any("variable 'unset' has no value" in m for m in messages), messages


def test_key_value_counter_counts_across_requests(host: Host, client: httpx.Client) -> None:
    counts = [int(client.get(f"{host.url}/kv").text) for _ in range(3)]
    assert counts[1] == counts[0] + 1 and counts[2] == counts[0] + 2


def test_wasi_keyvalue_reaches_the_same_store(host: Host, client: httpx.Client) -> None:
    first = client.get(f"{host.url}/wasi-kv").text
    second = client.get(f"{host.url}/wasi-kv").text
    assert first.endswith(" seen True") and second.endswith(" seen True")
    assert int(second.split()[0]) == int(first.split()[0]) + 1


def test_a_store_the_manifest_does_not_grant_is_access_denied(
    host: Host, client: httpx.Client
) -> None:
    answer = client.get(f"{host.url}/kv-open?store=secret")
    assert answer.status_code == 500
    messages = [e["message"] for e in host.logs(answer.headers["x-invocation-id"])]
    assert any("may not use the key-value store 'secret'" in m for m in messages), messages
    assert any("Error_AccessDenied" in m for m in messages), messages


def test_outbound_http_to_an_allowed_host_is_fetched(
    host: Host, client: httpx.Client, upstream: str
) -> None:
    answer = client.get(f"{host.url}/outbound", params={"url": f"{upstream}/ping?q=1"})
    assert answer.status_code == 200
    assert answer.text == "upstream saw /ping?q=1 from probe"


def test_outbound_http_to_another_host_is_refused_naming_host_and_setting(
    host: Host, client: httpx.Client, upstream: str
) -> None:
    other = upstream.replace("127.0.0.1", "localhost")
    answer = client.get(f"{host.url}/outbound", params={"url": f"{other}/ping"})
    assert answer.status_code == 500
    messages = [e["message"] for e in host.logs(answer.headers["x-invocation-id"])]
    refusal = next(m for m in messages if "disallowed destination" in m)
    assert other in refusal and "allowed_outbound_hosts" in refusal
    assert any("ErrorCode_HttpRequestDenied" in m for m in messages)


def test_an_outbound_call_that_hangs_ends_at_the_time_limit(
    host: Host, client: httpx.Client, upstream: str
) -> None:
    answer = client.get(f"{host.url}/outbound", params={"url": f"{upstream}/hang"})
    assert answer.status_code == 504 and answer.json()["code"] == "FUNCTION_TIMEOUT"
    assert client.get(f"{host.url}/hello").status_code == 200


def test_an_endless_loop_times_out_and_the_next_request_is_served(
    host: Host, client: httpx.Client
) -> None:
    answer = client.get(f"{host.url}/loop")
    assert answer.status_code == 504
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "FUNCTION_TIMEOUT" and "3000 ms" in problem["detail"]
    assert host.invocation(answer.headers["x-invocation-id"])["error_code"] == "FUNCTION_TIMEOUT"
    assert client.get(f"{host.url}/hello").status_code == 200


def test_sleeping_past_the_limit_also_times_out(host: Host, client: httpx.Client) -> None:
    answer = client.get(f"{host.url}/sleep?s=30")
    assert answer.status_code == 504 and answer.json()["code"] == "FUNCTION_TIMEOUT"


def test_a_memory_hog_hits_the_memory_limit_and_the_next_request_is_served(
    host: Host, client: httpx.Client
) -> None:
    answer = client.get(f"{host.url}/hog")
    assert answer.status_code == 500 and answer.json()["code"] == "FUNCTION_MEMORY_LIMIT"
    record = host.invocation(answer.headers["x-invocation-id"])
    assert record["error_code"] == "FUNCTION_MEMORY_LIMIT"
    assert client.get(f"{host.url}/hello").status_code == 200


def test_a_guest_exception_answers_500_with_its_traceback_in_stderr_lines(
    host: Host, client: httpx.Client
) -> None:
    answer = client.get(f"{host.url}/raise")
    assert answer.status_code == 500  # spin-sdk's own answer, passed through
    invocation = answer.headers["x-invocation-id"]
    stderr = [e["message"] for e in host.logs(invocation) if e["stream"] == "stderr"]
    assert stderr[0] == "Traceback (most recent call last):"
    assert stderr[-1] == "RuntimeError: probe failure on purpose"
    assert host.invocation(invocation)["error_code"] == "FUNCTION_ERROR"


@pytest.mark.parametrize(
    ("route", "interface"),
    [("/sqlite", "fermyon:spin/sqlite@2.0.0"), ("/redis", "fermyon:spin/redis@2.0.0")],
)
def test_an_unavailable_interface_fails_with_a_message_naming_it(
    host: Host, client: httpx.Client, route: str, interface: str
) -> None:
    answer = client.get(f"{host.url}{route}")
    assert answer.status_code == 500
    messages = [e["message"] for e in host.logs(answer.headers["x-invocation-id"])]
    notice = f"{interface}"
    assert any(notice in m and "not available on the local runtime" in m for m in messages), (
        messages
    )


def test_a_request_body_over_the_limit_is_413(host: Host, client: httpx.Client) -> None:
    body = b"a" * (300 * 1024)
    declared = client.post(f"{host.url}/size", content=body)
    assert declared.status_code == 413 and declared.json()["code"] == "REQUEST_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no content-length: counted while the guest reads
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    streamed = client.post(f"{host.url}/size", content=chunks())
    assert streamed.status_code == 413 and streamed.json()["code"] == "REQUEST_TOO_LARGE"
    small = client.post(f"{host.url}/size", content=b"b" * 1000)
    assert small.status_code == 200 and small.text == "1000"


def test_a_response_over_the_limit_is_502(host: Host, client: httpx.Client) -> None:
    declared = client.get(f"{host.url}/big?n={300 * 1024}")
    assert declared.status_code == 502 and declared.json()["code"] == "RESPONSE_TOO_LARGE"
    fits = client.get(f"{host.url}/big?n={200 * 1024}")
    assert fits.status_code == 200 and len(fits.content) == 200 * 1024


def test_a_response_that_lies_about_its_size_is_cut_at_the_limit(
    host: Host, client: httpx.Client
) -> None:
    with pytest.raises(httpx.HTTPError):
        # Past the first 64 KiB the answer is streamed; the limit then cuts the connection.
        client.get(
            f"{host.url}/big-undeclared?n={300 * 1024}", headers={"X-Invocation-Id": "cut-1"}
        )
    assert host.invocation("cut-1")["error_code"] == "RESPONSE_TOO_LARGE"


def test_health_and_info_answer_as_spin_does(host: Host, client: httpx.Client) -> None:
    health = client.get(f"{host.url}/.well-known/spin/health")
    assert health.status_code == 200 and health.text == "OK"
    info = client.get(f"{host.url}/.well-known/spin/info")
    assert info.status_code == 200 and info.json() == {"name": "probe", "version": "1.2.3"}
    assert client.get(f"{host.url}/.well-known/spin/other").status_code == 404


def test_concurrent_requests_each_get_their_own_instance(host: Host, client: httpx.Client) -> None:
    answers: list[httpx.Response] = []

    def call(index: int) -> None:
        with httpx.Client(timeout=30) as own:
            answers.append(own.post(f"{host.url}/echo", content=f"body-{index}".encode()))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.json()["body"] for a in answers) == sorted(f"body-{i}" for i in range(8))


def test_every_stdout_line_is_json(host: Host) -> None:
    # Host.read() parses each line as JSON and would have failed the reader on any other.
    kinds = {event["type"] for event in host.snapshot()}
    assert kinds <= {"ready", "log", "invocation"} and "invocation" in kinds


def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, probe, compiled_cache)
    with running_host(config) as host:
        answer: list[httpx.Response] = []
        headers = {"X-Invocation-Id": "slow-1"}
        slow = threading.Thread(
            target=lambda: answer.append(
                httpx.get(f"{host.url}/sleep?s=1", headers=headers, timeout=30)
            )
        )
        slow.start()
        host.wait_for(lambda events: any(e.get("invocation_id") == "slow-1" for e in events))
        host.process.send_signal(signal.SIGTERM)
        slow.join(timeout=30)
        assert host.process.wait(timeout=30) == 0
    assert answer and answer[0].status_code == 200 and answer[0].text == "slept"


def test_info_without_a_version_names_the_app_only(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    app = locked_app("bare", probe.sha256)
    del app["metadata"]["version"]
    config = write_config(tmp_path, probe, compiled_cache, locked_app=app)
    with running_host(config) as host:
        info = httpx.get(f"{host.url}/.well-known/spin/info")
    assert json.loads(info.content) == {"name": "bare"}
