DROP AGGREGATE public.lambda_zip(text, text);
DROP FUNCTION public.lambda_zip_final(jsonb);
DROP FUNCTION public.lambda_zip_step(jsonb, text, text);
DROP TRIGGER lambda_function_check ON public.lambda_function;
DROP FUNCTION public.lambda_function_check();
DROP FUNCTION public.lambda_runtimes();
DROP FUNCTION public.lambda_reserved_environment_keys();
