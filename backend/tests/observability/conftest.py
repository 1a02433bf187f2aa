from tests.tasks.conftest import api, fake_infra, fast_settings  # noqa: F401 (fixtures)
