"""Who is calling: a user (OIDC subject) or a workspace API key."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: Literal["user", "api_key", "anonymous", "admin"]
    # An API key acts only in the workspace it was created for.
    workspace_id: str | None = None

    @property
    def is_key(self) -> bool:
        return self.kind == "api_key"


# In auth mode "none" (development only) every request acts as this user.
ANONYMOUS = Principal(subject="anonymous", kind="anonymous")
ADMIN = Principal(subject="admin", kind="admin")
