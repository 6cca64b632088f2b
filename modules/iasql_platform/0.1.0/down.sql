DROP TABLE iasql_rpc;
DROP TABLE iasql_tables;
DROP TABLE iasql_dependencies;
DROP TABLE iasql_module;
