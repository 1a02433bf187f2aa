"""Settings: defaults for development, refusal of placeholders in production."""

import pytest
from pydantic import ValidationError

from app.config import Settings

GOOD_PRODUCTION = {
    "app_env": "production",
    "infra_service_token": "x" * 40,
    "build_service_url": "https://build.internal",
    "push_service_url": "https://push.internal",
    "scaffold_service_url": "https://scaffold.internal",
    "deploy_service_url": "https://deploy.internal",
    "ecr_registry_url": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    # The test environment exports moto's fake keys; production would use a role.
    "aws_access_key_id": None,
    "aws_secret_access_key": None,
    "auth_mode": "jwt",
    "oidc_issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
    "oidc_client_ids": ["client-1"],
}


def test_development_defaults_match_the_spec() -> None:
    settings = Settings(_env_file=None)
    assert settings.dynamodb_table == "sfbank-blue-FaaSData"
    assert settings.s3_bucket == "sfbank-blue-functions-code-bucket"
    assert settings.cors_origins == ["http://localhost:3000", "http://localhost:5173"]
    assert settings.poll_interval_seconds == 5
    assert settings.poll_max_attempts == 120
    assert settings.max_upload_bytes == 50 * 1024 * 1024


def test_cors_origins_read_from_a_comma_separated_variable(monkeypatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]


def test_production_with_real_values_starts() -> None:
    Settings(_env_file=None, **GOOD_PRODUCTION)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("infra_service_token", "dev-infra-token", "infra_service_token"),
        ("infra_service_token", "changeme", "infra_service_token"),
        ("dynamodb_table", "changeme", "dynamodb_table"),
        ("ecr_registry_url", "", "ecr_registry_url"),
        ("aws_endpoint_url", "http://127.0.0.1:4566", "aws_endpoint_url"),
        ("auth_mode", "none", "auth_mode"),
        ("oidc_issuer", None, "oidc_issuer"),
    ],
)
def test_production_refuses_placeholders(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **(GOOD_PRODUCTION | {field: value}))


def test_production_api_key_mode_needs_a_long_admin_key() -> None:
    api_key_mode = GOOD_PRODUCTION | {"auth_mode": "api-key"}
    with pytest.raises(ValidationError, match="admin_api_key"):
        Settings(_env_file=None, **api_key_mode)
    with pytest.raises(ValidationError, match="admin_api_key"):
        Settings(_env_file=None, **(api_key_mode | {"admin_api_key": "short"}))
    Settings(_env_file=None, **(api_key_mode | {"admin_api_key": "k" * 40}))
