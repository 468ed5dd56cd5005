"""Runs one DAG file's DAG with ``dag.test()`` and writes what happened as JSON.

    python run_dag.py DAG_FILE OUT_JSON LOGICAL_DATE [RUN_CONF_JSON]

The record: the run's state, each task's state and each task's XCom return value. A test runs this
in a process of its own, so that a signal can reach the task as a worker's supervisor sends it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def main(dag_file: str, out: str, logical_date: str, conf: str = "{}") -> int:
    spec = importlib.util.spec_from_file_location("dag_under_test", dag_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = dag.test(logical_date=datetime.fromisoformat(logical_date), run_conf=json.loads(conf))
    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids=dag.dag_id, key="return_value")
        rows: list[XComModel] = list(session.scalars(query))
        xcom: dict[str, Any] = {r.task_id: XComModel.deserialize_value(r) for r in rows}
        tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    record = {"state": str(run.state), "tasks": tasks, "xcom": xcom}
    Path(out).write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
