"""Deployment helpers: the pull step that runs Tandem's flows from the project directory.

``prefect.yaml`` deploys the flows to a process work pool without building or pushing anything:
the worker runs the code it finds on its machine. Prefect's process worker starts every flow run
in a fresh temporary directory and then runs the deployment's pull steps; this module's step moves
the run into the directory of the Tandem installation the worker's Python imports (the repository
of an editable install, ``pip install -e .``), where ``flows/`` and ``mappings/`` are. So a worker
started with the project's virtual environment runs the code of its checkout, wherever it was
started, and no absolute path is written into ``prefect.yaml``.

This module does not import Prefect (the engine never does); Prefect calls the step by name.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project directory of the installed Tandem: the parent of the ``tandem`` package.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: What a flow run needs in its working directory: the deployments' entrypoints and the mapping files.
REQUIRED = ("flows/full_sync.py", "flows/initial_import.py", "flows/partition.py", "mappings/default.yaml")


def set_project_directory() -> dict[str, str]:
    """Prefect pull step: make Tandem's project directory the flow run's working directory.

    Used in ``prefect.yaml`` as ``- tandem.deploy.set_project_directory: {}``. Like Prefect's own
    ``set_working_directory`` it returns the directory, which Prefect then uses to find the
    deployment's entrypoint (``flows/full_sync.py:full_sync``).

    Returns:
        ``{"directory": <absolute path of the project directory>}``.

    Raises:
        FileNotFoundError: the installed Tandem is not a project checkout (the flows or the mapping
            files are missing next to it); install the repository with ``pip install -e .`` in the
            worker's environment.
    """
    missing = [name for name in REQUIRED if not (PROJECT_ROOT / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Tandem at {PROJECT_ROOT} is not a project checkout ({', '.join(missing)} missing): start the "
            "worker with the virtual environment of the repository (pip install -e . in the checkout)"
        )
    os.chdir(PROJECT_ROOT)
    return {"directory": str(PROJECT_ROOT)}
