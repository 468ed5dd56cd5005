"""SkyplaneHook: Airflow connections, read through Airflow's own API, become skyplane configs."""

from __future__ import annotations

import json
import os
import stat
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import skyplane

from skyplane_provider import get_provider_info
from skyplane_provider.errors import ConnectionConfigError
from skyplane_provider.hooks.skyplane import SkyplaneHook


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> str:
    """Defines a connection the way a deployment does (AIRFLOW_CONN_<ID>, JSON); returns its id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def test_aws_connection_fields_become_the_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(
        monkeypatch,
        "aws_keys",
        conn_type="aws",
        login="AKIAEXAMPLE",
        password="secret-key",
        extra={"aws_session_token": "tok", "endpoint_url": "http://127.0.0.1:9000"},
    )
    assert SkyplaneHook(aws_conn_id=conn).aws_config() == skyplane.AWSConfig(
        access_key_id="AKIAEXAMPLE",
        secret_access_key="secret-key",
        session_token="tok",
        endpoint="http://127.0.0.1:9000",
    )


def test_aws_profile_and_the_s3_service_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(
        monkeypatch,
        "aws_profile",
        conn_type="aws",
        extra={
            "profile_name": "analytics",
            "endpoint_url": "http://general:1",
            "service_config": {"s3": {"endpoint_url": "http://s3-only:2"}},
        },
    )
    # The S3 endpoint of service_config is the one S3 calls use, as in the Amazon provider.
    assert SkyplaneHook(aws_conn_id=conn).aws_config() == skyplane.AWSConfig(
        profile="analytics", endpoint="http://s3-only:2"
    )


def test_a_role_to_assume_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(
        monkeypatch, "aws_role", conn_type="aws", extra={"role_arn": "arn:aws:iam::1:role/x"}
    )
    with pytest.raises(ConnectionConfigError, match=r"role_arn.*profile_name"):
        SkyplaneHook(aws_conn_id=conn).aws_config()


def test_a_connection_of_another_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(monkeypatch, "not_aws", conn_type="http", host="example.com")
    with pytest.raises(
        ConnectionConfigError,
        match=r"'not_aws' has type 'http', but aws_conn_id needs a connection of type 'aws'.*"
        r"airflow connections add not_aws --conn-type aws",
    ):
        SkyplaneHook(aws_conn_id=conn).aws_config()


def test_google_connection_with_a_key_path_and_project(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(
        monkeypatch,
        "gcp_path",
        conn_type="google_cloud_platform",
        extra={"key_path": "/keys/sa.json", "project": "proj-1"},
    )
    assert SkyplaneHook(gcp_conn_id=conn).gcp_config() == skyplane.GCPConfig(
        project_id="proj-1", key_filename="/keys/sa.json"
    )


def test_google_connection_with_older_prefixed_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(
        monkeypatch,
        "gcp_old",
        conn_type="google_cloud_platform",
        extra={"extra__google_cloud_platform__project": "proj-2", "api_endpoint": "http://gcs:3"},
    )
    assert SkyplaneHook(gcp_conn_id=conn).gcp_config() == skyplane.GCPConfig(
        project_id="proj-2", api_endpoint="http://gcs:3"
    )


def test_a_keyfile_dict_goes_to_a_private_file_removed_on_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = {"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com"}
    conn = connection(
        monkeypatch,
        "gcp_dict",
        conn_type="google_cloud_platform",
        extra={"keyfile_dict": json.dumps(key)},
    )
    hook = SkyplaneHook(gcp_conn_id=conn)
    config = hook.gcp_config()
    assert config is not None
    assert config.key_filename is not None
    path = Path(config.key_filename)
    assert json.loads(path.read_text()) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.parent.stat().st_uid == os.getuid()
    hook.close()
    assert not path.exists()
    assert not path.parent.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"keyfile_dict": "{not json"}, "keyfile_dict that is not JSON"),
        ({"keyfile_dict": "{}", "key_path": "/k.json"}, "both key_path and keyfile_dict"),
        ({"impersonation_chain": ["sa@x"]}, "impersonation_chain"),
    ],
)
def test_google_keys_skyplane_cannot_use_are_refused(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, object], message: str
) -> None:
    conn = connection(monkeypatch, "gcp_bad", conn_type="google_cloud_platform", extra=extra)
    with pytest.raises(ConnectionConfigError, match=message):
        SkyplaneHook(gcp_conn_id=conn).gcp_config()


def test_wasb_connection_string_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    cs = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;BlobEndpoint=http://h:1/a;"
    conn = connection(monkeypatch, "az_cs", conn_type="wasb", extra={"connection_string": cs})
    assert SkyplaneHook(azure_conn_id=conn).azure_config() == skyplane.AzureConfig(
        connection_string=cs
    )


def test_wasb_account_and_key_make_a_connection_string(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(monkeypatch, "az_key", conn_type="wasb", login="acct", password="a2V5")
    assert SkyplaneHook(azure_conn_id=conn).azure_config() == skyplane.AzureConfig(
        connection_string="DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
        "BlobEndpoint=https://acct.blob.core.windows.net;"
    )
    sas = connection(
        monkeypatch,
        "az_sas",
        conn_type="wasb",
        login="acct",
        host="http://127.0.0.1:10000/acct",
        extra={"sas_token": "?sv=2024&sig=abc"},
    )
    assert SkyplaneHook(azure_conn_id=sas).azure_config() == skyplane.AzureConfig(
        connection_string="BlobEndpoint=http://127.0.0.1:10000/acct;"
        "SharedAccessSignature=sv=2024&sig=abc"
    )


def test_wasb_without_a_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(monkeypatch, "az_nokey", conn_type="wasb", login="acct")
    with pytest.raises(ConnectionConfigError, match="password to the account key"):
        SkyplaneHook(azure_conn_id=conn).azure_config()


def test_no_connection_ids_leave_each_cloud_to_its_credential_chain() -> None:
    hook = SkyplaneHook()
    assert (hook.aws_config(), hook.gcp_config(), hook.azure_config()) == (None, None, None)


def test_airflow_finds_the_provider_through_its_entry_point() -> None:
    found = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("skyplane_provider")
    ]
    assert len(found) == 1
    assert found[0].load()() == get_provider_info()

    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()  # type: ignore[no-untyped-call]
    # Airflow validates each provider's info against its schema when it loads it.
    assert "airflow-provider-skyplane" in manager.providers
    assert manager.providers["airflow-provider-skyplane"].version == "0.1.0"
    hooks = get_provider_info()["hooks"][0]["python-modules"]
    assert hooks == ["skyplane_provider.hooks.skyplane"]
