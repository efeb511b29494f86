"""Event streams the feature store consumes: Redis Streams with consumer groups.

A consumer group hands each event to one consumer; an event stays *pending* (redelivered after a
crash) until the consumer acknowledges it, which the feature store does only after writing what
the event produced.
"""

from __future__ import annotations

from modelyard.storage.streams.redis_streams import RedisEventStream, StreamEvent

__all__ = ["RedisEventStream", "StreamEvent"]
