DROP TABLE aws_regions;
DROP TABLE aws_credentials;
