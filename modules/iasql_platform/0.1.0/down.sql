-- Nothing to drop: the engine's tables belong to the engine (sql/user-database/000004.sql).
SELECT 1;
