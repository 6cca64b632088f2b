-- Every change to a module table, written by a trigger (iasql_audit_row) that the engine puts on
-- each table of every non-bootstrap module. `source` says who made it: 'user' (a tenant session:
-- what commits apply), or the engine itself ('import', 'commit', 'rollback', 'sync', 'revert').
CREATE TABLE iasql_audit_log (
  id bigserial NOT NULL,
  ts timestamptz NOT NULL DEFAULT clock_timestamp(),
  "user" text NOT NULL DEFAULT session_user,
  table_name text NOT NULL,
  change_type text NOT NULL,
  change jsonb NOT NULL DEFAULT '{}',
  message text,
  transaction_id bigint NOT NULL DEFAULT txid_current(),
  source text NOT NULL DEFAULT 'user',
  CONSTRAINT iasql_audit_log_pkey PRIMARY KEY (id)
);
CREATE INDEX iasql_audit_log_ts_idx ON iasql_audit_log (ts);

-- Change sets: iasql_begin opens one; commit or rollback closes it. The changes of a change set
-- are the user's audit rows after `from_audit_id` (and up to `to_audit_id` once it closes).
CREATE TABLE iasql_change_set (
  id serial NOT NULL,
  status text NOT NULL DEFAULT 'open',
  opened_at timestamptz NOT NULL DEFAULT now(),
  opened_by text NOT NULL DEFAULT session_user,
  closed_at timestamptz,
  message text,
  from_audit_id bigint NOT NULL,
  to_audit_id bigint,
  progress jsonb,
  result jsonb,
  CONSTRAINT iasql_change_set_pkey PRIMARY KEY (id),
  CONSTRAINT iasql_change_set_status_check CHECK (status IN ('open', 'committing', 'committed', 'failed', 'rolled_back'))
);
