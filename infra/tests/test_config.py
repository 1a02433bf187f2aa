"""Settings: safe local defaults; production refuses placeholders instead of falling back."""

import pytest
from pydantic import ValidationError

from infra_service.config import Settings

STRONG_TOKEN = "x" * 40


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_listen_on_loopback_with_the_shared_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ENDPOINT_URL", "KUBECONFIG", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = _settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8001)
    assert settings.s3_bucket == "sfbank-blue-functions-code-bucket"
    assert settings.kubeconfig is None


def test_infra_prefixed_variables_win_over_the_conventional_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("INFRA_AWS_REGION", "eu-central-1")
    monkeypatch.setenv("KUBECONFIG", "/etc/kube/config")
    monkeypatch.setenv("INFRA_SERVICE_TOKEN", "from-env")
    settings = _settings()
    assert settings.aws_region == "eu-central-1"
    assert settings.kubeconfig == "/etc/kube/config"
    assert settings.service_token.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "INFRA_SERVICE_TOKEN"),
        ({"service_token": "changeme"}, "INFRA_SERVICE_TOKEN"),
        ({"service_token": STRONG_TOKEN, "registry_url": "127.0.0.1:5001"}, "local registry"),
        (
            {"service_token": STRONG_TOKEN, "aws_endpoint_url": "http://127.0.0.1:4566"},
            "emulator",
        ),
        ({"service_token": STRONG_TOKEN, "registry_insecure": True}, "plain http"),
    ],
)
def test_production_refuses_placeholders(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, object], problem: str
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ecr = {"registry_url": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"}
    with pytest.raises(ValidationError, match=problem):
        _settings(app_env="production", **(ecr | values))


def test_production_with_real_values_starts_and_uses_ecr_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = _settings(
        app_env="production",
        service_token=STRONG_TOKEN,
        registry_url="123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    )
    assert settings.registry_uses_ecr
    assert settings.registry_base_url.startswith("https://")


def test_tenant_quotas_must_be_kubernetes_quantities() -> None:
    with pytest.raises(ValidationError, match="tenant_quota_memory"):
        Settings(_env_file=None, tenant_quota_memory="four gigs")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="tenant_ingress_namespaces"):
        Settings(_env_file=None, tenant_ingress_namespaces=["Not_A_Label"])  # type: ignore[call-arg]
    assert Settings(_env_file=None, tenant_quota_memory="8Gi").tenant_quota_memory == "8Gi"  # type: ignore[call-arg]
