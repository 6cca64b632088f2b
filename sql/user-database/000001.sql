-- Engine SQL of every managed database, version 1.
-- iasql_internal holds what the engine needs inside a user database; the tenant role (which owns
-- the database) has no privileges on it.
CREATE SCHEMA IF NOT EXISTS iasql_internal;
REVOKE ALL ON SCHEMA iasql_internal FROM PUBLIC;

-- dblink carries RPC calls out of the caller's transaction (see docs/architecture.md).
CREATE EXTENSION IF NOT EXISTS dblink WITH SCHEMA iasql_internal;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA iasql_internal FROM PUBLIC;
