-- Indexes for the Studio API (owned by the API; 0001 is the collector's schema).
-- Running spans of a project (only span_start stored yet): counted by
-- GET /api/v1/observability/metrics. Partial, so it holds only the few in-flight spans.
CREATE INDEX observations_running_idx ON observations (project_id) WHERE NOT has_end;
