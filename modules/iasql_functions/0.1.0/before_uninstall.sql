DROP FUNCTION iasql_modules_installed();
