-- The audit log, change sets and the audit trigger function are the engine's own (schema
-- iasql_engine, sql/user-database/000004.sql); this module brings their psql surface (rpc).
SELECT 1;
