"""What the lifespan opens once per process and the routes use: clients and repositories."""

from dataclasses import dataclass

from app.aws import AwsClients
from app.config import Settings
from app.storage.functions import FunctionRepository
from app.storage.objects import ObjectStore
from app.storage.workspaces import WorkspaceRepository


@dataclass(frozen=True)
class Container:
    settings: Settings
    aws: AwsClients
    workspaces: WorkspaceRepository
    functions: FunctionRepository
    objects: ObjectStore

    @classmethod
    def build(cls, *, settings: Settings, aws: AwsClients) -> "Container":
        table = settings.dynamodb_table
        return cls(
            settings=settings,
            aws=aws,
            workspaces=WorkspaceRepository(client=aws.dynamodb, table=table),
            functions=FunctionRepository(client=aws.dynamodb, table=table),
            objects=ObjectStore(client=aws.s3, bucket=settings.s3_bucket),
        )
