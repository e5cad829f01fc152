"""Choosing the executor a run's settings ask for."""

from __future__ import annotations

import os

from ..errors import UsageError
from ..plan import compile_database
from ..settings import CHOICES, Settings
from . import Executor
from .dask import DaskExecutor, import_distributed, parse_resources
from .local import LocalExecutor


def make_executor(settings: Settings) -> Executor:
    """A ready executor; ``dask`` connects to the scheduler now, so a wrong address fails early.

    Dask options not in the settings come from the environment: ``HDRTEST_DASK_SCHEDULER``
    (when ``--scheduler`` is absent), ``HDRTEST_DASK_RESOURCES`` (``compile=1``: only
    workers started with ``--resources compile=1`` get compiles), ``HDRTEST_DASK_BATCH``
    (jobs per task).
    """
    if settings.executor == "local":
        return LocalExecutor(settings.jobs)
    if settings.executor != "dask":  # Settings built by a library caller, not load_settings, are not validated
        raise UsageError(f"unknown executor '{settings.executor}'", path="executor",
                         hint="use " + " or ".join(CHOICES["executor"]))
    import_distributed()  # the missing-package error comes before any complaint about the address
    batch_text = os.environ.get("HDRTEST_DASK_BATCH", "1")
    try:
        batch = int(batch_text)
    except ValueError:
        raise UsageError(f"'{batch_text}' is not a whole number", path="HDRTEST_DASK_BATCH") from None
    database = compile_database(settings)  # workers must see the same one
    return DaskExecutor(settings.scheduler or os.environ.get("HDRTEST_DASK_SCHEDULER"), resources=parse_resources(os.environ.get("HDRTEST_DASK_RESOURCES", "")),
                        batch_size=batch, tree_files=(database,) if database is not None else ())
