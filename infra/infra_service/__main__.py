"""`python -m infra_service`: serve the API with uvicorn on the configured host and port."""

import uvicorn

from infra_service.config import Settings
from infra_service.main import create_app


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
