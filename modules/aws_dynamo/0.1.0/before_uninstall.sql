DROP TRIGGER dynamo_table_check ON public.dynamo_table;
DROP FUNCTION public.dynamo_table_check();
