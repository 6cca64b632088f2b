-- Engine SQL of every managed database, version 1.
-- iasql_internal holds what the engine needs inside a user database: the tenant role has no
-- privileges on it. The admin made it (owned by the database's engine role) with dblink in it
-- before this file runs (src/databases/manager.ts: provision), since only the admin may create
-- an untrusted extension.
REVOKE ALL ON SCHEMA iasql_internal FROM PUBLIC;
