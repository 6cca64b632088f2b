DROP TABLE iasql_change_set;
DROP TABLE iasql_audit_log;
