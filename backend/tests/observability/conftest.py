from tests.tasks.conftest import api, fake_infra, fast_settings, workspace  # noqa: F401 (fixtures)
