-- RPC queue functions of the metadata database, applied (idempotently) on every engine start.
-- They run as their owner (the engine's admin role), with a fixed search_path and qualified names.
--
-- Each managed database enqueues as its OWN queue role (managed_database.queue_role), a member of
-- the queue group :queue_group, which may execute these functions and nothing else. Which database
-- a call belongs to, and who made it, come from the session (session_user is the queue role),
-- never from arguments: credentials found in one database reach only that database's calls.
-- :queue_group and :legacy_role are replaced by the engine with checked identifiers,
-- :engine_alive_lock with a condition on pg_locks built from constants (src/postgres/lock-keys.ts).

-- The channels calls are announced on and their cancels sent through. Any session of this database
-- may LISTEN or NOTIFY on any channel (Postgres has no privilege for either): with well-known names,
-- one database's queue role could read every database's calls as they are announced (arguments
-- included), announce one of its own queued calls as another database's for a worker to run there,
-- or end another database's running call. So the names are random, chosen once, readable by the
-- engine only, and looked up by the queue functions at run time (never written into their bodies,
-- which every role can read in pg_proc).
CREATE TABLE IF NOT EXISTS public.rpc_channel (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  calls text NOT NULL,
  cancels text NOT NULL
);
REVOKE ALL ON public.rpc_channel FROM PUBLIC;
INSERT INTO public.rpc_channel (calls, cancels)
  VALUES ('iasql_rpc_call_' || md5(gen_random_uuid()::text), 'iasql_rpc_cancel_' || md5(gen_random_uuid()::text))
  ON CONFLICT (only_row) DO NOTHING;

-- The database (and its tenant, the caller) whose queue role runs this session.
CREATE OR REPLACE FUNCTION public.iasql_rpc_session(OUT database text, OUT caller text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT d.name, d.role_name INTO database, caller FROM public.managed_database d
    WHERE d.queue_role = session_user AND d.status = 'ready';
  IF database IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'IQ003', MESSAGE = format('role %I is not the queue role of a ready managed database', session_user);
  END IF;
END
$$;

-- What the worker gets for a call: the call itself (notification and graphile-worker job payload).
CREATE OR REPLACE FUNCTION public.iasql_rpc_payload(p_id bigint, p_database text, p_module text, p_method text, p_args jsonb, p_caller text, p_timeout_ms integer)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT json_build_object('id', p_id, 'database', p_database, 'module', p_module, 'method', p_method, 'args', p_args, 'caller', p_caller, 'timeout_ms', p_timeout_ms)::text $$;

CREATE OR REPLACE FUNCTION public.iasql_rpc_enqueue(p_module text, p_method text, p_args jsonb, p_timeout_ms integer)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_session record;
  v_id bigint;
  v_payload text;
BEGIN
  SELECT * INTO v_session FROM public.iasql_rpc_session();
  INSERT INTO public.rpc_call (database, module, method, args, caller, timeout_ms)
    VALUES (v_session.database, p_module, p_method, p_args, v_session.caller, p_timeout_ms)
    RETURNING id INTO v_id;
  -- The payload is the call itself, so the worker reads nothing before it locks the call.
  v_payload := public.iasql_rpc_payload(v_id, v_session.database, p_module, p_method, p_args, v_session.caller, p_timeout_ms);
  -- Announced: a listening engine starts the call on this notification. Its graphile-worker job
  -- is added only if no engine has taken it after 250 ms (iasql_rpc_status adds it while the
  -- caller waits): adding, fetching and completing a job per call was 2 ms of a 6 ms no-op call
  -- on 2 cores. NOTIFY payloads are limited to 8000 bytes: larger calls get their job at once.
  -- So do all calls while the server's NOTIFY queue is filling (src/rpc/notify-queue.ts): an
  -- announcement is up to 8 KB of it, the job's notification a few bytes.
  IF octet_length(v_payload) < 7900 AND pg_catalog.pg_notification_queue_usage() < :notify_queue_threshold THEN
    PERFORM pg_notify((SELECT c.calls FROM public.rpc_channel c), v_payload);
  ELSE
    PERFORM graphile_worker.add_job('rpc', v_payload::json, max_attempts := 1, job_key := 'rpc:' || v_id, job_key_mode := 'unsafe_dedupe');
  END IF;
  RETURN v_id;
END
$$;

-- Whether an engine that takes calls is running: each holds the shared session advisory lock
-- engineAlive of src/postgres/lock-keys.ts here (src/rpc/liveness.ts) from early in its start to
-- the beginning of its stop. :engine_alive_lock is the pg_locks condition for it, from that file.
-- Only the engine's own role counts (the owner of these functions, current_user when they run).
CREATE OR REPLACE FUNCTION public.iasql_rpc_engine_alive()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
    WHERE :engine_alive_lock AND l.granted
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
      AND a.usename = current_user)
$$;

-- Status of a call of this session's database. While it is queued, waits up to p_wait_ms for a
-- worker to take it, checking every ~1 ms here rather than paying a dblink round trip per check.
CREATE OR REPLACE FUNCTION public.iasql_rpc_status(p_id bigint, p_wait_ms integer DEFAULT 0)
RETURNS TABLE (status text, result jsonb, error jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_database text := (public.iasql_rpc_session()).database;
  v_until timestamptz := clock_timestamp() + make_interval(secs => least(greatest(p_wait_ms, 0), 100) / 1000.0);
  v_status text;
  v_result jsonb;
  v_error jsonb;
  v_created timestamptz;
  v_failed jsonb;
BEGIN
  LOOP
    SELECT c.status, c.result, c.error, c.created_at INTO v_status, v_result, v_error, v_created FROM public.rpc_call c WHERE c.id = p_id AND c.database = v_database;
    EXIT WHEN v_status IS DISTINCT FROM 'queued' OR clock_timestamp() >= v_until;
    PERFORM pg_sleep(0.0002);
  END LOOP;
  -- Still queued a second after its enqueue and no engine is running to take it: the call ends
  -- now with IQ008, instead of its caller waiting the whole timeout. Marked failed, it never runs
  -- later. (An engine that is starting holds the lock already: a call made meanwhile waits for it.)
  IF v_status = 'queued' AND v_created < clock_timestamp() - interval '1 second' AND NOT public.iasql_rpc_engine_alive() THEN
    UPDATE public.rpc_call c SET status = 'failed', finished_at = now(), error = jsonb_build_object(
        'sqlstate', 'IQ008', 'message', format('rpc %s.%s: no iasql engine is running', c.module, c.method),
        'hint', 'start it (iasql start), then call again; this call will not run')
      WHERE c.id = p_id AND c.status = 'queued'
      RETURNING c.error INTO v_failed;
    IF FOUND THEN
      RETURN QUERY SELECT 'failed'::text, NULL::jsonb, v_failed;
      RETURN;
    END IF;
  END IF;
  -- Announced but still not taken after 250 ms (no engine listening, every slot busy, or the
  -- engine that had it in its backlog died): the call gets its graphile-worker job, which any
  -- engine's runner takes. Once: the key dedupes, and a job that ran left the call not queued,
  -- or parked it: an engine keeps it waiting for its database's share without holding a job
  -- slot, and while that engine's LISTEN connection (parked_by) lives, no job is needed.
  IF v_status = 'queued' AND v_created < clock_timestamp() - interval '250 milliseconds'
     AND NOT EXISTS (SELECT 1 FROM graphile_worker.jobs j WHERE j.key = 'rpc:' || p_id)
     AND NOT EXISTS (SELECT 1 FROM public.rpc_call c JOIN pg_catalog.pg_stat_activity a ON a.pid = c.parked_by AND a.application_name = 'iasql' WHERE c.id = p_id) THEN
    PERFORM graphile_worker.add_job('rpc',
      (SELECT public.iasql_rpc_payload(c.id, c.database, c.module, c.method, c.args, c.caller, c.timeout_ms) FROM public.rpc_call c WHERE c.id = p_id)::json,
      max_attempts := 1, job_key := 'rpc:' || p_id, job_key_mode := 'unsafe_dedupe');
  END IF;
  IF v_status IS NOT NULL THEN
    RETURN QUERY SELECT v_status, v_result, v_error;
  END IF;
END
$$;

-- The caller gave up (timeout, cancel) or found the worker gone: record it, and tell a worker
-- still running the call to stop. Only calls of this session's database.
CREATE OR REPLACE FUNCTION public.iasql_rpc_abandon(p_id bigint, p_status text, p_error jsonb)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_database text := (public.iasql_rpc_session()).database;
  v_pid integer;
BEGIN
  IF p_status NOT IN ('timed_out', 'cancelled', 'failed') THEN
    RAISE EXCEPTION 'invalid status %', p_status;
  END IF;
  UPDATE public.rpc_call SET status = p_status, error = p_error, finished_at = now()
    WHERE id = p_id AND database = v_database AND status IN ('queued', 'running')
    RETURNING worker_pid INTO v_pid;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  -- Stop the statement the handler is running now (it may be waiting on the caller's own locks,
  -- which the caller is about to release), and tell the worker to abort the handler.
  IF v_pid IS NOT NULL THEN
    PERFORM pg_cancel_backend(v_pid);
  END IF;
  PERFORM pg_notify((SELECT c.cancels FROM public.rpc_channel c), p_id::text);
  RETURN true;
END
$$;

-- What a running call of this session's database is doing (ctx.progress), for its caller's NOTICEs.
CREATE OR REPLACE FUNCTION public.iasql_rpc_progress(p_id bigint)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT c.progress FROM public.rpc_call c WHERE c.id = p_id AND c.database = (public.iasql_rpc_session()).database $$;

-- The functions of earlier engines, which took the database and caller as arguments, now only say
-- what to do: databases made by those engines are not served (docs/security.md).
CREATE OR REPLACE FUNCTION public.iasql_rpc_enqueue(p_database text, p_module text, p_method text, p_args jsonb, p_caller text, p_timeout_ms integer)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'IQ009', MESSAGE = 'this database was made by an earlier iasql engine and is not served by this one',
    HINT = 'export what you need, then drop the database (iasql db drop <name>) and create it again; see docs/security.md';
END
$$;
DROP FUNCTION IF EXISTS public.iasql_rpc_status(bigint, text);
DROP FUNCTION IF EXISTS public.iasql_rpc_status(bigint, text, integer);
DROP FUNCTION IF EXISTS public.iasql_rpc_abandon(bigint, text, text, jsonb);
DROP FUNCTION IF EXISTS public.iasql_rpc_progress(bigint, text);

REVOKE ALL ON FUNCTION public.iasql_rpc_session() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_engine_alive() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_payload(bigint, text, text, text, jsonb, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_enqueue(text, text, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_status(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_abandon(bigint, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_progress(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.iasql_rpc_enqueue(text, text, text, jsonb, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.iasql_rpc_enqueue(text, text, jsonb, integer) TO :queue_group;
GRANT EXECUTE ON FUNCTION public.iasql_rpc_status(bigint, integer) TO :queue_group;
GRANT EXECUTE ON FUNCTION public.iasql_rpc_abandon(bigint, text, jsonb) TO :queue_group;
GRANT EXECUTE ON FUNCTION public.iasql_rpc_progress(bigint) TO :queue_group;
GRANT EXECUTE ON FUNCTION public.iasql_rpc_enqueue(text, text, text, jsonb, text, integer) TO :legacy_role;
