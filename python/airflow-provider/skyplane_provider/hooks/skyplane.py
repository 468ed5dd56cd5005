"""SkyplaneHook: Airflow connections of the AWS, Google and Azure types, read as skyplane configs.

The hook reads each connection through Airflow's own Connection API (``get_connection``), in the
fields and extras that the Amazon, Google and Microsoft Azure providers define for their connection
types, so one connection serves those providers' operators and this one. The providers themselves
are not needed: a connection is plain data until a client uses it, and the Google provider alone
would bring well over a hundred packages into the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import skyplane
from airflow.sdk import BaseHook, Connection

from skyplane_provider.errors import ConnectionConfigError

# Connection types as the providers register them; a connection of another type is refused.
AWS_CONN_TYPE = "aws"
GCP_CONN_TYPE = "google_cloud_platform"
AZURE_CONN_TYPE = "wasb"

# Auth modes of those connection types that skyplane cannot honour, with what to use instead. Taking
# the connection without them would copy with other credentials than the ones it names.
_UNSUPPORTED: dict[str, dict[str, str]] = {
    AWS_CONN_TYPE: {
        "role_arn": "put the role in an AWS profile (role_arn + source_profile) and set "
        '{"profile_name": "..."} in the extra',
        "assume_role_method": "use an AWS profile that assumes the role, named by profile_name",
    },
    GCP_CONN_TYPE: {
        "key_secret_name": "give the key as key_path or keyfile_dict",
        "credential_config_file": "give a service-account key as key_path or keyfile_dict",
        "impersonation_chain": "give the impersonated account's key as key_path or keyfile_dict",
    },
    AZURE_CONN_TYPE: {
        "client_id": "give the account's connection string, or its name and key",
        "tenant_id": "give the account's connection string, or its name and key",
        "managed_identity_client_id": "give the account's connection string, or its name and key",
    },
}


def _extra(conn: Connection, name: str) -> Any:
    """An extra field, by its plain name or the older prefixed one (``extra__<type>__<name>``)."""
    extra: Mapping[str, Any] = conn.extra_dejson
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{conn.conn_type}__{name}")
    return None if value == "" else value


def _check(conn: Connection, conn_type: str, role: str) -> None:
    if conn.conn_type != conn_type:
        raise ConnectionConfigError(
            f"connection '{conn.conn_id}' has type '{conn.conn_type}', but {role} needs a "
            f"connection of type '{conn_type}': create it with "
            f"'airflow connections add {conn.conn_id} --conn-type {conn_type} ...'"
        )
    for key, instead in _UNSUPPORTED[conn_type].items():
        if _extra(conn, key) not in (None, [], {}):
            raise ConnectionConfigError(
                f"connection '{conn.conn_id}' sets '{key}', which skyplane does not support: "
                f"{instead}"
            )


def aws_config_from_connection(conn: Connection) -> skyplane.AWSConfig:
    """An ``aws`` connection as an AWSConfig: keys (login/password or extra), profile, endpoint."""
    _check(conn, AWS_CONN_TYPE, "aws_conn_id")
    service = _extra(conn, "service_config") or {}
    s3 = service.get("s3", {}) if isinstance(service, dict) else {}
    endpoint = s3.get("endpoint_url") or _extra(conn, "endpoint_url")
    return skyplane.AWSConfig(
        access_key_id=conn.login or _extra(conn, "aws_access_key_id"),
        secret_access_key=conn.password or _extra(conn, "aws_secret_access_key"),
        session_token=_extra(conn, "aws_session_token"),
        profile=_extra(conn, "profile_name") or _extra(conn, "profile"),
        endpoint=endpoint,
    )


def azure_config_from_connection(conn: Connection) -> skyplane.AzureConfig:
    """A ``wasb`` connection as an AzureConfig: its connection string, or one from name and key."""
    _check(conn, AZURE_CONN_TYPE, "azure_conn_id")
    connection_string = _extra(conn, "connection_string")
    if not connection_string:
        account = conn.login
        secret = conn.password
        sas = _extra(conn, "sas_token")
        if not account:
            raise ConnectionConfigError(
                f"connection '{conn.conn_id}' names no storage account: set its login to the "
                "account name, or its extra's connection_string"
            )
        endpoint = conn.host or f"https://{account}.blob.core.windows.net"
        if secret:
            connection_string = (
                f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={secret};"
                f"BlobEndpoint={endpoint};"
            )
        elif sas:
            connection_string = f"BlobEndpoint={endpoint};SharedAccessSignature={sas.lstrip('?')}"
        else:
            raise ConnectionConfigError(
                f"connection '{conn.conn_id}' has an account but no key: set its password to the "
                "account key, or its extra's sas_token or connection_string"
            )
    return skyplane.AzureConfig(
        connection_string=connection_string, subscription_id=_extra(conn, "subscription_id")
    )


class SkyplaneHook(BaseHook):
    """Turns Airflow connections into a ``skyplane.SkyplaneClient``'s configs, and makes the client.

    Each connection id is optional: without one, that cloud's standard credential chain applies (the
    environment, shared config files, instance identity), as it does for ``skyplane cp``.
    """

    hook_name = "Skyplane"

    def __init__(
        self,
        aws_conn_id: str | None = None,
        gcp_conn_id: str | None = None,
        azure_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.azure_conn_id = azure_conn_id
        self._key_dir: str | None = None

    def aws_config(self) -> skyplane.AWSConfig | None:
        """The AWS connection's config, or None without one."""
        if self.aws_conn_id is None:
            return None
        return aws_config_from_connection(self.get_connection(self.aws_conn_id))

    def gcp_config(self) -> skyplane.GCPConfig | None:
        """The Google connection's config, or None without one (a keyfile_dict goes to a file)."""
        if self.gcp_conn_id is None:
            return None
        conn = self.get_connection(self.gcp_conn_id)
        _check(conn, GCP_CONN_TYPE, "gcp_conn_id")
        key_path = _extra(conn, "key_path")
        keyfile = _extra(conn, "keyfile_dict")
        if key_path and keyfile:
            raise ConnectionConfigError(
                f"connection '{conn.conn_id}' sets both key_path and keyfile_dict: keep one"
            )
        if keyfile:
            key_path = self._write_key(keyfile)
        return skyplane.GCPConfig(
            project_id=_extra(conn, "project"),
            key_filename=key_path,
            api_endpoint=_extra(conn, "api_endpoint"),
        )

    def azure_config(self) -> skyplane.AzureConfig | None:
        """The Azure connection's config, or None without one."""
        if self.azure_conn_id is None:
            return None
        return azure_config_from_connection(self.get_connection(self.azure_conn_id))

    def get_client(self, log_dir: str | None = None) -> skyplane.SkyplaneClient:
        """A client with this hook's credentials; the caller closes it, then this hook."""
        return skyplane.SkyplaneClient(
            aws_config=self.aws_config(),
            gcp_config=self.gcp_config(),
            azure_config=self.azure_config(),
            log_dir=log_dir,
        )

    def close(self) -> None:
        """Removes the key file a keyfile_dict was written to, if any."""
        if self._key_dir is not None:
            shutil.rmtree(self._key_dir, ignore_errors=True)
            self._key_dir = None

    def _write_key(self, keyfile: object) -> str:
        # The Node side reads a key file (GOOGLE_APPLICATION_CREDENTIALS): the key goes to a folder
        # only this user can open (mkdtemp makes it 0700), never to an environment or command line.
        text = keyfile if isinstance(keyfile, str) else json.dumps(keyfile)
        try:
            json.loads(text)
        except ValueError as err:
            raise ConnectionConfigError(
                f"connection '{self.gcp_conn_id}' has a keyfile_dict that is not JSON: paste the "
                "service account's key file as it is"
            ) from err
        self.close()
        self._key_dir = tempfile.mkdtemp(prefix="skyplane-gcp-key-")
        path = os.path.join(self._key_dir, "key.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path
