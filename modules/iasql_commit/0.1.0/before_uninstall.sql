DROP FUNCTION iasql_audit_row() CASCADE;
