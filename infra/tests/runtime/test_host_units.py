"""The host's pure parts, without a component: grants, templates, routes, output, answers."""

import io
import json
import threading
from pathlib import Path

import pytest

from infra_service.runtime.allowed_hosts import (
    AllowedHostError,
    is_allowed,
    parse_allowed_host,
    parse_allowed_hosts,
)
from infra_service.runtime.context import RESPONSE_TOO_LARGE, HostTrap
from infra_service.runtime.events import EventWriter
from infra_service.runtime.guest_output import MAX_LINE_BYTES, GuestOutput
from infra_service.runtime.incoming import invocation_id, well_known
from infra_service.runtime.keyvalue import KeyValueStore
from infra_service.runtime.manifest import AppVariable, component_manifest, match_route
from infra_service.runtime.replica import ReplicaConfig
from infra_service.runtime.response import HOLD_BYTES, Headers, ResponseWriter
from infra_service.runtime.variables import VariableError, Variables, valid_name


@pytest.mark.parametrize(
    ("entry", "scheme", "host", "port", "allowed"),
    [
        ("http://127.0.0.1:8080", "http", "127.0.0.1", 8080, True),
        ("http://127.0.0.1:8080", "http", "127.0.0.1", 8081, False),
        ("http://127.0.0.1:8080", "https", "127.0.0.1", 8080, False),
        ("https://example.com", "https", "example.com", None, True),
        ("https://example.com", "https", "example.com", 8443, False),
        ("https://*.example.com", "https", "api.example.com", 443, True),
        ("https://*.example.com", "https", "example.com", 443, False),
        ("*://example.com:*", "http", "example.com", 1234, True),
        ("*://*:*", "https", "anything.test", 9, True),
        ("http://10.0.0.0/8", "http", "10.1.2.3", 80, True),
        ("http://10.0.0.0/8", "http", "11.1.2.3", 80, False),
        ("http://localhost:8000..8010", "http", "localhost", 8009, True),
        ("http://localhost:8000..8010", "http", "localhost", 8010, False),
    ],
)
def test_allowed_outbound_hosts_follow_spins_rules(
    entry: str, scheme: str, host: str, port: int | None, allowed: bool
) -> None:
    assert is_allowed([parse_allowed_host(entry)], scheme=scheme, host=host, port=port) is allowed


@pytest.mark.parametrize("entry", ["example.com", "http://*example.com", "ftp://x.test"])
def test_malformed_allowed_hosts_are_refused(entry: str) -> None:
    with pytest.raises(AllowedHostError):
        parse_allowed_host(entry)


def test_no_allowed_hosts_allow_nothing() -> None:
    assert not is_allowed(parse_allowed_hosts([]), scheme="http", host="127.0.0.1", port=80)


def test_variables_render_templates_from_values_then_defaults() -> None:
    variables = Variables(
        config={"greeting": "hi {{ who }} from {{where}}", "plain": "fixed"},
        declared={
            "who": AppVariable(default=None, secret=False),
            "where": AppVariable(default="home", secret=False),
        },
        values={"who": "ann"},
    )
    assert variables.get("greeting") == "hi ann from home"
    assert variables.get("plain") == "fixed"
    assert variables.get_all() == [("greeting", "hi ann from home"), ("plain", "fixed")]


@pytest.mark.parametrize(
    ("key", "kind"), [("Bad-Name", "invalid-name"), ("missing", "undefined"), ("who", "provider")]
)
def test_variable_errors_carry_the_wit_case(key: str, kind: str) -> None:
    variables = Variables(
        config={"who": "{{ who }}"},
        declared={"who": AppVariable(default=None, secret=True)},
        values={},
    )
    with pytest.raises(VariableError) as caught:
        variables.get(key)
    assert caught.value.kind == kind


def test_variable_names_are_lowercase_snake_case() -> None:
    assert valid_name("api_key2") and not valid_name("2key") and not valid_name("a__b")


def test_the_http_triggered_component_and_its_grants_are_read_from_the_locked_app() -> None:
    locked = {
        "metadata": {"name": "shop", "version": "2.0.0"},
        "variables": {"token": {"secret": True}, "mode": {"default": "fast"}},
        "triggers": [
            {"trigger_type": "http", "trigger_config": {"component": "api", "route": "/api/..."}}
        ],
        "components": [
            {"id": "other"},
            {
                "id": "api",
                "metadata": {
                    "allowed_outbound_hosts": ["https://example.com"],
                    "key_value_stores": ["default"],
                },
                "config": {"token": "{{ token }}"},
                "env": {"A": "1"},
            },
        ],
    }
    manifest = component_manifest(locked, fallback_name="x")
    assert manifest.component_id == "api" and manifest.route == "/api/..."
    assert manifest.allowed_outbound_hosts == ["https://example.com"]
    assert manifest.key_value_stores == ["default"] and manifest.environment == {"A": "1"}
    assert manifest.variables["mode"].default == "fast" and manifest.variables["token"].secret


def test_an_empty_locked_app_grants_nothing() -> None:
    manifest = component_manifest({}, fallback_name="bare")
    assert manifest.component_id == "bare" and manifest.route == "/..."
    assert manifest.allowed_outbound_hosts == [] and manifest.key_value_stores == []


@pytest.mark.parametrize(
    ("route", "path", "path_info"),
    [("/...", "/a/b", "/a/b"), ("/api/...", "/api/x", "/x"), ("/api/...", "/api", ""),
     ("/exact", "/exact", ""), ("/exact", "/exact/", "")],
)  # fmt: skip
def test_routes_match_as_spin_routes_do(route: str, path: str, path_info: str) -> None:
    matched = match_route(route, path)
    assert matched is not None and matched.path_info == path_info


@pytest.mark.parametrize(("route", "path"), [("/api/...", "/apix"), ("/exact", "/exact/more")])
def test_routes_do_not_match_other_paths(route: str, path: str) -> None:
    assert match_route(route, path) is None


def test_health_info_and_other_well_known_paths() -> None:
    manifest = component_manifest({"metadata": {"name": "shop"}}, fallback_name="x")
    health = well_known("/.well-known/spin/health", manifest)
    assert health is not None and (health.status, health.body) == (200, b"OK")
    info = well_known("/.well-known/spin/info", manifest)
    assert info is not None and json.loads(info.body) == {"name": "shop"}
    other = well_known("/.well-known/spin/nope", manifest)
    assert other is not None and other.status == 404
    assert well_known("/hello", manifest) is None


def test_a_callers_invocation_id_is_kept_only_when_it_is_a_token() -> None:
    assert invocation_id([("x-invocation-id", b"abc-123")]) == "abc-123"
    made = invocation_id([("x-invocation-id", b"bad id\n")])
    assert made != "bad id\n" and len(made) == 32


def test_guest_output_is_cut_into_lines_per_stream() -> None:
    lines: list[tuple[str, str]] = []
    output = GuestOutput(lambda stream, line: lines.append((stream, line)))
    output.write("stdout", b"one\ntw")
    output.write("stderr", b"err\r\n")
    output.write("stdout", b"o\nrest")
    output.flush()
    assert lines == [("stdout", "one"), ("stderr", "err"), ("stdout", "two"), ("stdout", "rest")]


def test_long_lines_are_split_and_total_output_is_capped() -> None:
    lines: list[tuple[str, str]] = []
    output = GuestOutput(lambda stream, line: lines.append((stream, line)))
    output.write("stdout", b"x" * (MAX_LINE_BYTES + 10))
    output.flush()
    assert [len(text) for _, text in lines] == [MAX_LINE_BYTES, 10]
    for _ in range(100):
        output.write("stdout", b"y" * 20_000 + b"\n")
    assert lines[-1] == ("stderr", "[output truncated: more than 1 MiB in one invocation]")
    count = len(lines)
    output.write("stdout", b"more\n")
    assert len(lines) == count


class _Sink:
    def __init__(self) -> None:
        self.started: tuple[int, Headers] | None = None
        self.chunks: list[bytes] = []
        self.finished = False

    def start(self, status: int, headers: Headers) -> None:
        self.started = (status, headers)

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        self.finished = True


def test_a_small_answer_is_held_and_sent_with_its_length() -> None:
    sink = _Sink()
    writer = ResponseWriter(sink, max_bytes=1000)
    writer.set(201, [("content-type", b"text/plain"), ("content-length", b"999"), ("te", b"x")])
    writer.write(b"hello")
    assert sink.started is None
    writer.finish()
    assert sink.started == (201, [(b"content-type", b"text/plain"), (b"content-length", b"5")])
    assert sink.chunks == [b"hello"] and sink.finished


def test_a_large_answer_streams_once_past_the_hold_size() -> None:
    sink = _Sink()
    writer = ResponseWriter(sink, max_bytes=10 * HOLD_BYTES)
    writer.set(200, [])
    writer.write(b"a" * HOLD_BYTES)
    assert sink.started == (200, []) and sink.chunks == [b"a" * HOLD_BYTES]
    writer.write(b"b")
    writer.finish()
    assert sink.chunks[-1] == b"b" and sink.finished


def test_the_response_limit_traps_with_its_code() -> None:
    writer = ResponseWriter(_Sink(), max_bytes=10)
    with pytest.raises(HostTrap) as declared:
        writer.set(200, [("content-length", b"11")])
    assert declared.value.code == RESPONSE_TOO_LARGE
    writer.set(200, [])
    writer.write(b"0123456789")
    with pytest.raises(HostTrap) as written:
        writer.write(b"!")
    assert written.value.code == RESPONSE_TOO_LARGE


def test_a_failure_before_the_answer_started_becomes_problem_json() -> None:
    sink = _Sink()
    writer = ResponseWriter(sink, max_bytes=1000)
    assert writer.fail(status=504, code="FUNCTION_TIMEOUT", title="t", detail="d", instance="i")
    assert sink.started is not None and sink.started[0] == 504
    problem = json.loads(b"".join(sink.chunks))
    assert problem["code"] == "FUNCTION_TIMEOUT" and problem["status"] == 504


def test_a_failure_after_the_answer_started_cannot_be_rewritten() -> None:
    writer = ResponseWriter(_Sink(), max_bytes=10 * HOLD_BYTES)
    writer.set(200, [])
    writer.write(b"a" * HOLD_BYTES)
    assert not writer.fail(status=500, code="FUNCTION_ERROR", title="t", detail="d", instance="i")


def test_the_key_value_store_keeps_bytes_and_counts_atomically(tmp_path: Path) -> None:
    store = KeyValueStore(tmp_path / "kv" / "default.sqlite3")
    store.set("a", b"\x00\x01")
    assert store.get("a") == b"\x00\x01" and store.exists("a") and store.get("b") is None
    threads = [threading.Thread(target=store.increment, args=("n", 1)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("n") == b"20" and store.keys() == ["a", "n"]
    store.delete("a")
    store.close()
    reopened = KeyValueStore(tmp_path / "kv" / "default.sqlite3")
    assert reopened.keys() == ["n"]
    reopened.close()


def test_event_lines_are_single_json_objects() -> None:
    stream = io.StringIO()
    events = EventWriter(stream)
    events.log(stream="stdout", invocation_id="i-1", message='a "quoted"\nline')
    events.invocation(
        invocation_id="i-1", method="GET", path="/", status=200, duration_ms=1.5, error_code=None
    )
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["type"] == "log" and first["message"] == 'a "quoted"\nline'
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-01-01T00:00:00.000Z")
    assert second == {**second, "type": "invocation", "status": 200, "error_code": None}


def test_the_replica_config_accepts_an_oci_digest_and_applies_defaults() -> None:
    config = ReplicaConfig.model_validate(
        {
            "app": {"namespace": "n", "name": "a"},
            "component": "/x/app.wasm",
            "component_sha256": "sha256:" + "a" * 64,
            "compiled_cache_dir": "/c",
            "kv_dir": "/k",
            "future_field": 1,
        }
    )
    assert config.component_sha256 == "a" * 64
    assert config.limits.timeout_ms == 10_000 and config.limits.concurrency == 4
    assert config.listen.host == "127.0.0.1" and config.listen.port == 0
