DROP FUNCTION public.iasql_help();
DROP FUNCTION public.iasql_get_errors();
DROP FUNCTION public.iasql_modules_installed();
