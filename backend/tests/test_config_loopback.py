"""Production refuses the loopback defaults of the service URLs and the registry."""

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.test_config import GOOD_PRODUCTION

URL_FIELDS = [
    "build_service_url",
    "push_service_url",
    "scaffold_service_url",
    "deploy_service_url",
]
LOOPBACK_URLS = [
    "http://127.0.0.1:8001",
    "http://127.8.9.10:8001",
    "http://localhost:8001",
    "https://LOCALHOST",
    "http://api.localhost:8001",
    "http://[::1]:8001",
    "http://0.0.0.0:8001",
]


@pytest.mark.parametrize("field", URL_FIELDS)
@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_production_refuses_a_service_url_on_this_machine(field: str, url: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **(GOOD_PRODUCTION | {field: url}))


@pytest.mark.parametrize(
    "registry", ["127.0.0.1:5001", "localhost:5000", "localhost", "[::1]:5000"]
)
def test_production_refuses_a_registry_on_this_machine(registry: str) -> None:
    with pytest.raises(ValidationError, match="ecr_registry_url"):
        Settings(_env_file=None, **(GOOD_PRODUCTION | {"ecr_registry_url": registry}))


def test_the_defaults_are_refused_in_production_and_named_together() -> None:
    defaulted = {*URL_FIELDS, "ecr_registry_url"}
    values = {k: v for k, v in GOOD_PRODUCTION.items() if k not in defaulted}
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **values)
    for field in [*URL_FIELDS, "ecr_registry_url"]:
        assert field in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://faas-infra-service.faas.svc.cluster.local:8001",
        "https://build.internal",
        "http://10.0.0.7:8001",
        "http://localhost.example.com",
    ],
)
def test_production_accepts_service_urls_elsewhere(url: str) -> None:
    Settings(_env_file=None, **(GOOD_PRODUCTION | {"build_service_url": url}))


def test_development_keeps_the_loopback_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.build_service_url == "http://127.0.0.1:8001"
    assert settings.ecr_registry_url == "127.0.0.1:5001"
