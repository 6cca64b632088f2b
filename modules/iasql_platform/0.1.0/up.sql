-- iasql_platform's tables are the engine's own (schema iasql_engine, sql/user-database/000004.sql):
-- the engine creates them in every managed database before any module is installed.
SELECT 1;
