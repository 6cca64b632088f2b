DROP TABLE public.dynamo_table;
