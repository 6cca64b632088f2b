CREATE TABLE iasql_module (
  name text NOT NULL,
  version text NOT NULL,
  installed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT iasql_module_pkey PRIMARY KEY (name)
);

-- A dependency row keeps its dependency from being removed while the dependent is installed.
CREATE TABLE iasql_dependencies (
  module text NOT NULL,
  dependency text NOT NULL,
  CONSTRAINT iasql_dependencies_pkey PRIMARY KEY (module, dependency),
  CONSTRAINT iasql_dependencies_module_fkey FOREIGN KEY (module) REFERENCES iasql_module (name) ON DELETE CASCADE,
  CONSTRAINT iasql_dependencies_dependency_fkey FOREIGN KEY (dependency) REFERENCES iasql_module (name)
);

CREATE TABLE iasql_tables (
  table_name text NOT NULL,
  module text NOT NULL,
  CONSTRAINT iasql_tables_pkey PRIMARY KEY (table_name),
  CONSTRAINT iasql_tables_module_fkey FOREIGN KEY (module) REFERENCES iasql_module (name) ON DELETE CASCADE
);

-- One row per rpc call made from this database (written by the engine; pruned hourly).
CREATE TABLE iasql_rpc (
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
CREATE INDEX iasql_rpc_start_date_idx ON iasql_rpc (start_date);
