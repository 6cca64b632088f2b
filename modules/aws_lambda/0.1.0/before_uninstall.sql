DROP AGGREGATE lambda_zip(text, text);
DROP FUNCTION lambda_zip_final(jsonb);
DROP FUNCTION lambda_zip_step(jsonb, text, text);
DROP TRIGGER lambda_function_check ON lambda_function;
DROP FUNCTION lambda_function_check();
