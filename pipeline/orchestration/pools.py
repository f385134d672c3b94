"""The Airflow pools the DAG needs, created by the project (nobody makes them by hand).

`ensure_pools` adds a missing pool and leaves an existing one alone (an operator may have
resized it). It runs when an Airflow job with database access starts (the plugin's listener:
scheduler, triggerer, dag-processor) and from `recsys airflow-setup`.
"""

from __future__ import annotations

import logging

from pipeline.core.config import Settings

log = logging.getLogger(__name__)


def pool_specs(settings: Settings) -> dict[str, tuple[int, str]]:
    return {
        settings.airflow.warehouse_pool: (
            1,
            "recsys-nightly: every task that opens the DuckDB warehouse (one writer at a time)",
        )
    }


def ensure_pools(settings: Settings | None = None) -> list[str]:
    """Create the missing pools in Airflow's metadata database; return the names created."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session
    from sqlalchemy.exc import IntegrityError

    created = []
    for name, (slots, description) in pool_specs(settings or Settings()).items():
        try:
            with create_session() as session:
                if Pool.get_pool(name, session=session) is not None:
                    continue
                Pool.create_or_update_pool(
                    name, slots, description, include_deferred=False, session=session
                )
        except IntegrityError:  # another Airflow process created it a moment earlier
            continue
        created.append(name)
        log.info("created Airflow pool %r with %d slot(s)", name, slots)
    return created
