DROP FUNCTION iasql_help();
DROP FUNCTION iasql_get_errors();
DROP FUNCTION iasql_modules_installed();
