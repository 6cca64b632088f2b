-- Engine SQL of every managed database, version 4: the engine's tables, in the engine's schema.
--
-- iasql_engine belongs to the database's engine role; the tenant may read its tables (USAGE and
-- SELECT, granted by the engine after this file) and finds them by their plain names, since the
-- schema is on the tenant role's search_path in this database. Only the engine writes them. Every
-- function here runs with search_path = pg_catalog, pg_temp and names what it uses with its schema.
CREATE SCHEMA iasql_engine;
REVOKE ALL ON SCHEMA iasql_engine FROM PUBLIC;

-- What is installed: modules at exact versions, their dependencies, the tables each owns.
CREATE TABLE iasql_engine.iasql_module (
  name text NOT NULL,
  version text NOT NULL,
  installed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT iasql_module_pkey PRIMARY KEY (name)
);

-- A dependency row keeps its dependency from being removed while the dependent is installed.
CREATE TABLE iasql_engine.iasql_dependencies (
  module text NOT NULL,
  dependency text NOT NULL,
  CONSTRAINT iasql_dependencies_pkey PRIMARY KEY (module, dependency),
  CONSTRAINT iasql_dependencies_module_fkey FOREIGN KEY (module) REFERENCES iasql_engine.iasql_module (name) ON DELETE CASCADE,
  CONSTRAINT iasql_dependencies_dependency_fkey FOREIGN KEY (dependency) REFERENCES iasql_engine.iasql_module (name)
);

CREATE TABLE iasql_engine.iasql_tables (
  table_name text NOT NULL,
  module text NOT NULL,
  CONSTRAINT iasql_tables_pkey PRIMARY KEY (table_name),
  CONSTRAINT iasql_tables_module_fkey FOREIGN KEY (module) REFERENCES iasql_engine.iasql_module (name) ON DELETE CASCADE
);

-- One row per rpc call made from this database (written by the engine; pruned hourly).
CREATE TABLE iasql_engine.iasql_rpc (
  opid text NOT NULL,
  module_name text NOT NULL,
  method_name text NOT NULL,
  params jsonb NOT NULL,
  caller text NOT NULL,
  start_date timestamptz NOT NULL,
  end_date timestamptz,
  output jsonb,
  err text,
  CONSTRAINT iasql_rpc_pkey PRIMARY KEY (opid)
);
CREATE INDEX iasql_rpc_start_date_idx ON iasql_engine.iasql_rpc (start_date);

-- Every change to a module table, written by iasql_audit_row, which the engine puts on each table
-- of every non-bootstrap module. `source` says who made it: 'user' (a tenant session: what commits
-- apply), or the engine itself ('import', 'commit', 'rollback', 'sync', 'revert').
CREATE TABLE iasql_engine.iasql_audit_log (
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
CREATE INDEX iasql_audit_log_ts_idx ON iasql_engine.iasql_audit_log (ts);

-- Change sets: iasql_begin opens one; commit or rollback closes it. The changes of a change set
-- are the user's audit rows after `from_audit_id` (and up to `to_audit_id` once it closes).
CREATE TABLE iasql_engine.iasql_change_set (
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

-- The audit trigger of module tables. It runs as its owner (the engine role), so tenants can write
-- module tables while the log stays read-only to them. Trigger arguments name columns whose values
-- never reach the log (secrets): they are replaced by '[redacted]'. Nothing here resolves through
-- a schema the tenant can create in: to_jsonb, jsonb_set and = come from pg_catalog, whatever
-- overloads a tenant defines for a module's row type in public.
CREATE FUNCTION iasql_engine.iasql_audit_row()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_old jsonb;
  v_new jsonb;
  v_source text;
  v_col text;
BEGIN
  IF TG_OP <> 'INSERT' THEN v_old := pg_catalog.to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN v_new := pg_catalog.to_jsonb(NEW); END IF;
  FOR i IN 0 .. TG_NARGS - 1 LOOP
    v_col := TG_ARGV[i];
    IF v_old IS NOT NULL AND v_old->>v_col IS NOT NULL THEN v_old := pg_catalog.jsonb_set(v_old, ARRAY[v_col], '"[redacted]"'); END IF;
    IF v_new IS NOT NULL AND v_new->>v_col IS NOT NULL THEN v_new := pg_catalog.jsonb_set(v_new, ARRAY[v_col], '"[redacted]"'); END IF;
  END LOOP;
  IF TG_OP = 'UPDATE' AND v_old = v_new THEN
    RETURN NULL;
  END IF;
  -- Any session but the engine's (the function's owner, current_user here) is a tenant: what it
  -- does is user intent, whatever it sets. The engine names what it is doing in iasql.source.
  IF session_user <> current_user THEN
    v_source := 'user';
  ELSE
    v_source := coalesce(nullif(current_setting('iasql.source', true), ''), 'user');
  END IF;
  INSERT INTO iasql_engine.iasql_audit_log (table_name, change_type, change, source)
  VALUES (TG_TABLE_NAME, TG_OP, jsonb_build_object('original', v_old, 'change', v_new), v_source);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION iasql_engine.iasql_audit_row() FROM PUBLIC;
