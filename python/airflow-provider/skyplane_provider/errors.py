"""The provider's own errors (the transfer's come from ``skyplane``, one class per error code)."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class ConnectionConfigError(AirflowFailException):
    """An Airflow connection that skyplane cannot use as it stands; retrying would not help."""
