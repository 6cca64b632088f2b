-- Nothing to drop: the audit log and change sets belong to the engine.
SELECT 1;
