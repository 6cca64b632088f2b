DROP TABLE lambda_function;
