"""A workspace: the stores one configuration points at, opened lazily and shared.

Capabilities take a workspace (or a single store) and never open connections themselves.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from modelyard.config import Settings, get_settings
from modelyard.storage.artifacts import ArtifactStore, open_artifact_store
from modelyard.storage.metadata import MetadataStore, open_metadata_store

if TYPE_CHECKING:
    from modelyard.storage.logs import EventLog
    from modelyard.storage.offline import OfflineStore
    from modelyard.storage.online import OnlineStore
    from modelyard.storage.streams import RedisEventStream

__all__ = ["Workspace", "default_workspace", "set_default_workspace"]


class Workspace:
    """The metadata and artifact stores (and, as they are added, the feature stores) of one setup."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        base = settings or get_settings()
        self.settings = base.with_overrides(**overrides) if overrides else base
        self._metadata: MetadataStore | None = None
        self._artifacts: ArtifactStore | None = None
        self._offline: OfflineStore | None = None
        self._online: OnlineStore | None = None
        self._logs: EventLog | None = None
        self._lock = threading.Lock()

    @property
    def metadata(self) -> MetadataStore:
        if self._metadata is None:
            with self._lock:
                if self._metadata is None:
                    self._metadata = open_metadata_store(self.settings.metadata_uri)
        return self._metadata

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            with self._lock:
                if self._artifacts is None:
                    self._artifacts = self.artifact_store_for(self.settings.artifact_uri)
        return self._artifacts

    def artifact_store_for(self, uri: str) -> ArtifactStore:
        """A store for any artifact URI (e.g. a run's artifact_uri on another bucket)."""
        return open_artifact_store(uri, s3_endpoint_url=self.settings.s3_endpoint_url)

    @property
    def offline(self) -> OfflineStore:
        """The offline feature store (DuckDB over Parquet), opened on first use."""
        if self._offline is None:
            with self._lock:
                if self._offline is None:
                    from modelyard.storage.offline import open_offline_store

                    self._offline = open_offline_store(
                        self.settings.offline_uri, s3_endpoint_url=self.settings.s3_endpoint_url
                    )
        return self._offline

    @property
    def online(self) -> OnlineStore:
        """The online feature store (SQLite or Redis), opened on first use."""
        if self._online is None:
            with self._lock:
                if self._online is None:
                    from modelyard.storage.online import open_online_store

                    self._online = open_online_store(self.settings.online_uri)
        return self._online

    @property
    def logs(self) -> EventLog:
        """The prediction and feedback logs (Parquet by model and date), opened on first use."""
        if self._logs is None:
            with self._lock:
                if self._logs is None:
                    from modelyard.storage.logs import EventLog

                    self._logs = EventLog(
                        self.settings.logs_uri, s3_endpoint_url=self.settings.s3_endpoint_url
                    )
        return self._logs

    def stream(self, name: str, url: str | None = None) -> RedisEventStream:
        """The Redis Stream ``name`` at ``url`` (default: the online store's Redis server)."""
        from modelyard.errors import ConfigError
        from modelyard.storage.online import RedisOnlineOptions
        from modelyard.storage.streams import RedisEventStream

        if url is None:
            if not self.settings.online_uri.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(
                    f"Stream {name!r} has no url and the online store is not Redis "
                    f"({self.settings.online_uri}); give the stream a url "
                    "(redis://host:6379/0) in its feature view.",
                    stream=name,
                )
            url = RedisOnlineOptions.from_uri(self.settings.online_uri).url
        return RedisEventStream(url, name)

    @property
    def user(self) -> str:
        return self.settings.user

    def close(self) -> None:
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None
        if self._offline is not None:
            self._offline.close()
            self._offline = None
        if self._online is not None:
            self._online.close()
            self._online = None

    def __repr__(self) -> str:
        return f"Workspace(home={self.settings.home!r})"


_default: Workspace | None = None
_default_lock = threading.Lock()


def default_workspace() -> Workspace:
    """The workspace the module-level functions (``modelyard.start_run`` ...) use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Workspace()
    return _default


def set_default_workspace(workspace: Workspace | None) -> None:
    """Replace (or with None, forget) the default workspace, e.g. after changing settings."""
    global _default
    with _default_lock:
        if _default is not None and _default is not workspace:
            _default.close()
        _default = workspace
