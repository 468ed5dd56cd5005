"""Apache Airflow provider for skyplane: ``SkyplaneOperator`` and ``SkyplaneHook``."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """What Airflow's providers manager reads (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-skyplane",
        "name": "Skyplane",
        "description": "Bulk copies between object stores through skyplane's short-lived gateways.",
        "versions": [version("airflow-provider-skyplane")],
        "integrations": [
            {
                "integration-name": "Skyplane",
                "external-doc-url": "https://github.com/skyplane-project/skyplane",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "Skyplane",
                "python-modules": ["skyplane_provider.operators.skyplane"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Skyplane",
                "python-modules": ["skyplane_provider.hooks.skyplane"],
            }
        ],
    }
