"""Credentials and settings of the clouds: as the library's three configs.

Each field left as None falls back to what the cloud's SDK finds in the environment. The values
reach the Node side on its stdin, never on a command line; secrets are left out of ``repr``.
"""

from dataclasses import dataclass, field


def _present(fields: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class AWSConfig:
    """AWS credentials; without arguments, the SDK's chain (environment, profiles, SSO)."""

    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    #: An S3-compatible endpoint (``AWS_ENDPOINT_URL_S3``), e.g. an emulator's.
    endpoint: str | None = None

    def to_wire(self) -> dict[str, str]:
        """The ``aws`` params of ``init``."""
        return _present(
            {
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
                "sessionToken": self.session_token,
                "profile": self.profile,
                "endpoint": self.endpoint,
            }
        )


@dataclass(frozen=True)
class GCPConfig:
    """GCP credentials: Application Default Credentials unless a key file or project is given."""

    project_id: str | None = None
    key_filename: str | None = None
    #: The Cloud Storage endpoint (``STORAGE_EMULATOR_HOST``), e.g. an emulator's.
    api_endpoint: str | None = None

    def to_wire(self) -> dict[str, str]:
        """The ``gcp`` params of ``init``."""
        return _present(
            {
                "projectId": self.project_id,
                "keyFilename": self.key_filename,
                "apiEndpoint": self.api_endpoint,
            }
        )


@dataclass(frozen=True)
class AzureConfig:
    """Azure credentials: ``AZURE_STORAGE_CONNECTION_STRING`` or the environment unless given."""

    connection_string: str | None = field(default=None, repr=False)
    subscription_id: str | None = None

    def to_wire(self) -> dict[str, str]:
        """The ``azure`` params of ``init``."""
        return _present(
            {"connectionString": self.connection_string, "subscriptionId": self.subscription_id}
        )
