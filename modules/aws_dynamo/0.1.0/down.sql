DROP TABLE dynamo_table;
