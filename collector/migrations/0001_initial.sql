-- SwisperStudio schema v1: projects, API keys, traces and observations.
-- Documented column by column in docs/data-model.md. Applied once, in a transaction, by
-- `swisper-studio migrate` and at collector / API start-up (see collector/migrate.py).

CREATE TABLE projects (
    id            text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    name          text NOT NULL,
    -- true while the project exists only because the collector saw its id in an event;
    -- `swisper-studio project create --id` claims it (sets a name and a key).
    auto_created  boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- sha256 hex of the full key; the key itself is shown once and never stored
    key_hash      text NOT NULL UNIQUE,
    -- first characters of the key, to tell keys apart in listings
    key_prefix    text NOT NULL,
    name          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_project_idx ON api_keys (project_id);

-- One row per OTel trace. Filled from the root span when it arrives; created earlier, with
-- only ids and times, by any of its spans, so a trace shows while its root is still running.
CREATE TABLE traces (
    id                   text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    project_id           text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                 text,
    user_id              text,
    session_id           text,
    start_time           timestamptz NOT NULL,
    end_time             timestamptz,
    input                jsonb,
    output               jsonb,
    metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    tags                 text[] NOT NULL DEFAULT '{}',
    -- worst level over the trace's observations: DEFAULT < WARNING < ERROR
    level                text NOT NULL DEFAULT 'DEFAULT'
                         CHECK (level IN ('DEBUG', 'DEFAULT', 'WARNING', 'ERROR')),
    -- status of the root span: UNSET / OK / ERROR, or RUNNING until the root has ended
    status               text NOT NULL DEFAULT 'RUNNING',
    status_message       text,
    root_observation_id  text,
    service_name         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX traces_project_time_idx ON traces (project_id, start_time DESC, id DESC);
CREATE INDEX traces_project_session_idx ON traces (project_id, session_id, start_time)
    WHERE session_id IS NOT NULL;
CREATE INDEX traces_project_user_idx ON traces (project_id, user_id, start_time DESC)
    WHERE user_id IS NOT NULL;
CREATE INDEX traces_tags_idx ON traces USING gin (tags);

-- One row per span. (trace_id, id) is the OTel identity of a span.
CREATE TABLE observations (
    id                     text NOT NULL CHECK (id ~ '^[0-9a-f]{16}$'),
    trace_id               text NOT NULL,
    project_id             text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    parent_observation_id  text,
    type                   text NOT NULL DEFAULT 'SPAN'
                           CHECK (type IN ('SPAN', 'GENERATION', 'EVENT', 'AGENT', 'TOOL',
                                           'CHAIN', 'RETRIEVER')),
    name                   text NOT NULL,
    kind                   text,
    start_time             timestamptz NOT NULL,
    -- NULL while the span is running (only its span_start has arrived)
    end_time               timestamptz,
    completion_start_time  timestamptz,
    level                  text NOT NULL DEFAULT 'DEFAULT'
                           CHECK (level IN ('DEBUG', 'DEFAULT', 'WARNING', 'ERROR')),
    status_code            text NOT NULL DEFAULT 'UNSET',
    status_message         text,
    input                  jsonb,
    output                 jsonb,
    metadata               jsonb NOT NULL DEFAULT '{}'::jsonb,
    model                  text,
    model_parameters       jsonb,
    usage                  jsonb,
    input_tokens           bigint,
    output_tokens          bigint,
    total_tokens           bigint,
    langgraph_node         text,
    langgraph_step         integer,
    events                 jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- which halves of the span have been stored: lets start and end fold in any order
    has_start              boolean NOT NULL DEFAULT false,
    has_end                boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trace_id, id)
);
CREATE INDEX observations_trace_start_idx ON observations (trace_id, start_time);
CREATE INDEX observations_project_time_idx ON observations (project_id, start_time DESC);
CREATE INDEX observations_project_type_idx ON observations (project_id, type, start_time DESC);
CREATE INDEX observations_project_model_idx ON observations (project_id, model)
    WHERE model IS NOT NULL;
