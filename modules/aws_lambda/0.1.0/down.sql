DROP TABLE public.lambda_function;
