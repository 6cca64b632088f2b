DROP TRIGGER dynamo_table_check ON dynamo_table;
DROP FUNCTION dynamo_table_check();
