"""SkyplaneOperator: copies or syncs objects between buckets through skyplane's gateways."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import skyplane
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from skyplane_provider.hooks.skyplane import SkyplaneHook


class SkyplaneOperator(BaseOperator):
    """Copies ``src`` to ``dst`` (any two of ``s3://``, ``gs://``, ``azure://``, ``local://``).

    The route's gateways are provisioned for the copy and torn down after it, also when the task is
    killed (``on_kill``). The task's XCom value is
    ``{"objects": int, "bytes": int, "seconds": float}``: what was copied, and how long it took.

    :param src: source URI; with ``recursive``, everything under it (templated)
    :param dst: destination URI (templated)
    :param recursive: copy every object under ``src``
    :param n_vms: gateways per region
    :param sync: copy only what is missing or different at ``dst``
    :param delete: with ``sync``, delete what ``dst`` has and ``src`` has not, after the copy
    :param aws_conn_id: an ``aws`` connection; None for the AWS credential chain
    :param gcp_conn_id: a ``google_cloud_platform`` connection; None for Application Default
        Credentials
    :param azure_conn_id: a ``wasb`` connection; None for AZURE_STORAGE_CONNECTION_STRING
    """

    template_fields: Sequence[str] = ("src", "dst")
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        src: str,
        dst: str,
        recursive: bool = True,
        n_vms: int = 1,
        sync: bool = False,
        delete: bool = False,
        aws_conn_id: str | None = None,
        gcp_conn_id: str | None = None,
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if delete and not sync:
            raise ValueError(
                f"{kwargs['task_id']}: delete=True needs sync=True (a copy deletes nothing)"
            )
        if not isinstance(n_vms, int) or n_vms < 1:
            raise ValueError(
                f"{kwargs['task_id']}: n_vms must be a whole number ≥ 1, not {n_vms!r}"
            )
        self.src = src
        self.dst = dst
        self.recursive = recursive
        self.n_vms = n_vms
        self.sync = sync
        self.delete = delete
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.azure_conn_id = azure_conn_id
        self._client: skyplane.SkyplaneClient | None = None
        self._killed = threading.Event()

    def execute(self, context: Context) -> dict[str, Any]:
        """Runs the copy; its result goes to XCom."""
        hook = SkyplaneHook(
            aws_conn_id=self.aws_conn_id,
            gcp_conn_id=self.gcp_conn_id,
            azure_conn_id=self.azure_conn_id,
        )
        try:
            client = hook.get_client()
            self._client = client
            try:
                if self._killed.is_set():
                    raise AirflowException("the task was killed before its copy started")
                verb = "syncing" if self.sync else "copying"
                self.log.info(
                    "%s %s to %s (%d gateway(s) per region)", verb, self.src, self.dst, self.n_vms
                )
                if self.sync:
                    result = client.sync(self.src, self.dst, delete=self.delete, n_vms=self.n_vms)
                else:
                    result = client.copy(
                        self.src, self.dst, recursive=self.recursive, n_vms=self.n_vms
                    )
            except skyplane.SkyplaneError as err:
                if self._killed.is_set():
                    raise AirflowException(
                        "the task was killed: its copy stopped and its gateways were torn down "
                        f"({err})"
                    ) from err
                raise
            finally:
                self._client = None
                client.close()
        finally:
            hook.close()
        out = {"objects": result.objects, "bytes": result.bytes, "seconds": result.seconds}
        self.log.info(
            "copied %d object(s), %d bytes in %.2f s", out["objects"], out["bytes"], out["seconds"]
        )
        return out

    def on_kill(self) -> None:
        """Stops the copy: its gateways are torn down before this returns."""
        self._killed.set()
        client = self._client
        if client is not None:
            client.close()
