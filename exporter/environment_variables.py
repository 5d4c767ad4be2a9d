"""Names of the ``SWISPER_STUDIO_*`` environment variables the exporter reads.

Constructor arguments override these; an empty value counts as unset (OpenTelemetry's rule) and
any other malformed value is a ``ValueError`` at construction naming the variable.
The exporter also honours the standard ``OTEL_SDK_DISABLED`` (``true`` turns it into a no-op);
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` reach it through the SDK's ``Resource``.
"""

SWISPER_STUDIO_REDIS_URL = "SWISPER_STUDIO_REDIS_URL"
"""
.. envvar:: SWISPER_STUDIO_REDIS_URL

Redis server the span events are written to: ``redis://``, ``rediss://`` (TLS) or ``unix://``,
with an optional ``user:password@``. Default: ``redis://localhost:6379/0``.
"""

SWISPER_STUDIO_STREAM_NAME = "SWISPER_STUDIO_STREAM_NAME"
"""
.. envvar:: SWISPER_STUDIO_STREAM_NAME

Key of the Redis stream the events are appended to. Default: ``observability:events``.
"""

SWISPER_STUDIO_PROJECT_ID = "SWISPER_STUDIO_PROJECT_ID"
"""
.. envvar:: SWISPER_STUDIO_PROJECT_ID

SwisperStudio project the spans belong to (the ``project_id`` stream field). Default: ``default``.
"""

SWISPER_STUDIO_MAX_STREAM_LENGTH = "SWISPER_STUDIO_MAX_STREAM_LENGTH"
"""
.. envvar:: SWISPER_STUDIO_MAX_STREAM_LENGTH

Approximate cap on the stream's length (``XADD ... MAXLEN ~ N``). Default: ``100000``.
"""

SWISPER_STUDIO_MAX_QUEUE_SIZE = "SWISPER_STUDIO_MAX_QUEUE_SIZE"
"""
.. envvar:: SWISPER_STUDIO_MAX_QUEUE_SIZE

Span events held in memory while waiting for the publisher; when full, the oldest event is
dropped and counted. Default: ``20480`` (a 10-second Redis outage at 1,000 spans/s).
"""

SWISPER_STUDIO_MAX_BATCH_SIZE = "SWISPER_STUDIO_MAX_BATCH_SIZE"
"""
.. envvar:: SWISPER_STUDIO_MAX_BATCH_SIZE

Events sent in one pipelined round trip; a queue this long wakes the publisher early.
Default: ``512``.
"""

SWISPER_STUDIO_SCHEDULE_DELAY_MILLIS = "SWISPER_STUDIO_SCHEDULE_DELAY_MILLIS"
"""
.. envvar:: SWISPER_STUDIO_SCHEDULE_DELAY_MILLIS

Longest time an event waits in the queue before the publisher wakes up. Default: ``200``.
"""

SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS = "SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS"
"""
.. envvar:: SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS

Connect and socket timeout of the exporter's Redis calls; also the retry budget of one
``RedisStreamSpanExporter.export`` call. Default: ``5000``.
"""

SWISPER_STUDIO_ENABLED = "SWISPER_STUDIO_ENABLED"
"""
.. envvar:: SWISPER_STUDIO_ENABLED

``false`` (or ``0``, ``no``, ``off``) turns the processor and the exporter into no-ops (no
thread, no connection); ``true``, ``1``, ``yes``, ``on`` keep them on (any case). Any other value
is a ``ValueError`` at construction. Default: ``true``.
"""

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""
.. envvar:: OTEL_SDK_DISABLED

The standard OpenTelemetry switch: ``true`` (only, as the specification says) disables the
exporter as well. Default: ``false``.
"""
