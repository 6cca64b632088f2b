DROP SCHEMA aws_account_secret CASCADE;
DROP TABLE aws_regions;
DROP TABLE aws_credentials;
