"""Storage layer: the only code that talks to databases, files, S3 or Redis."""

from modelyard.storage.workspace import Workspace, default_workspace, set_default_workspace

__all__ = ["Workspace", "default_workspace", "set_default_workspace"]
