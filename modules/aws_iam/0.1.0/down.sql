DROP TABLE iam_role;
