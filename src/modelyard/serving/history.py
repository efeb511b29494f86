"""The deployment history: audit events and lineage edges, in the metadata store.

    deployment.started   a server began answering for a deployment's variant with a version
    deployment.swapped   a variant moved from one version to another (its alias moved)
    deployment.stopped   the server stopped answering for the deployment

Each event's object is ``deployment/NAME``; its details say the variant, the model, the
version(s), the URI followed, the host and the process. A ``model_version NAME/V ->
deployment NAME`` lineage edge (relation ``deployed``) is written with every start and swap,
so ``modelyard audit`` and the lineage graph answer "what served, when, and from what".
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from modelyard.entities import LineageEdge, LineageNode
from modelyard.storage import Workspace

__all__ = ["DeploymentHistory"]

log = logging.getLogger("modelyard.serving")
KIND = "deployment"


class DeploymentHistory:
    """Writes the history; a failed write is logged and never stops the server."""

    def __init__(self, workspace: Workspace, *, enabled: bool = True) -> None:
        self.workspace = workspace
        self.enabled = enabled
        self._where = {"host": socket.gethostname(), "pid": os.getpid()}

    def started(self, deployment: str, variant: str, model: str, version: int, uri: str) -> None:
        details = {"variant": variant, "model": model, "version": version, "uri": uri}
        self._record("deployment.started", deployment, details, model, version)

    def swapped(
        self, deployment: str, variant: str, model: str, old: int, new: int, uri: str
    ) -> None:
        details = {
            "variant": variant,
            "model": model,
            "from_version": old,
            "to_version": new,
            "uri": uri,
        }
        self._record("deployment.swapped", deployment, details, model, new)

    def stopped(self, deployment: str, versions: dict[str, int]) -> None:
        self._record("deployment.stopped", deployment, {"versions": versions}, None, None)

    def _record(
        self,
        action: str,
        deployment: str,
        details: dict[str, Any],
        model: str | None,
        version: int | None,
    ) -> None:
        if not self.enabled:
            return
        edges = []
        if model is not None and version is not None:
            edges.append(
                LineageEdge(
                    LineageNode("model_version", f"{model}/{version}"),
                    LineageNode(KIND, deployment),
                    "deployed",
                    details={"variant": details.get("variant")},
                )
            )
        try:
            self.workspace.metadata.audit.record(
                self.workspace.user,
                action,
                KIND,
                deployment,
                {**details, **self._where},
                edges=edges,
            )
        except Exception:
            log.exception("could not record %s for deployment %s", action, deployment)
