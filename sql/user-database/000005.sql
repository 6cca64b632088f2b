-- Engine SQL of every managed database, version 5: the queue per database, and quotas.
--
-- The dblink connection logs in as this database's own queue role, and the queue functions take
-- the database and the caller from that session (sql/metadata/rpc.sql), not from arguments.
-- Before anything is enqueued, the entry point enforces this database's quotas (written by the
-- engine into rpc_config): arguments larger than max_args_bytes are refused with IQ002, and
-- iasql.rpc_timeout_ms is clamped to max_timeout_ms with a NOTICE. A value that is not a whole
-- number of milliseconds is refused with IQ002.
ALTER TABLE iasql_internal.rpc_config ADD COLUMN max_timeout_ms integer NOT NULL DEFAULT 3600000;
ALTER TABLE iasql_internal.rpc_config ADD COLUMN max_args_bytes integer NOT NULL DEFAULT 6291456;

CREATE OR REPLACE FUNCTION iasql_internal.rpc_call(p_module text, p_method text, p_args jsonb, p_timeout_ms integer)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $rpc$
DECLARE
  v_id bigint;
  v_status text;
  v_result jsonb;
  v_error jsonb;
  v_setting text := nullif(current_setting('iasql.rpc_timeout_ms', true), '');
  v_timeout_ms bigint := p_timeout_ms;
  v_deadline timestamptz;
  v_left_ms bigint;
  v_lock_timeout text := current_setting('lock_timeout');
  v_config iasql_internal.rpc_config;
  v_conninfo text;
  v_progress text;
  v_shown text;
BEGIN
  SELECT * INTO v_config FROM iasql_internal.rpc_config;
  IF v_setting IS NOT NULL THEN
    IF v_setting !~ '^\s*[0-9]{1,12}\s*$' OR v_setting::bigint < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'IQ002', MESSAGE = format('iasql.rpc_timeout_ms %L is not a positive whole number of milliseconds', v_setting),
        HINT = 'e.g. SET iasql.rpc_timeout_ms = 300000 (or RESET iasql.rpc_timeout_ms for the method''s own timeout)';
    END IF;
    v_timeout_ms := v_setting::bigint;
  END IF;
  IF v_config.max_timeout_ms IS NOT NULL AND v_timeout_ms > v_config.max_timeout_ms THEN
    -- Said only when the caller asked for more; a method's own longer timeout is cut silently.
    IF v_setting IS NOT NULL THEN
      RAISE NOTICE 'iasql.rpc_timeout_ms % is above this database''s ceiling; using % ms', v_timeout_ms, v_config.max_timeout_ms;
    END IF;
    v_timeout_ms := v_config.max_timeout_ms;
  END IF;
  IF v_config.max_args_bytes IS NOT NULL AND octet_length(p_args::text) > v_config.max_args_bytes THEN
    RAISE EXCEPTION USING ERRCODE = 'IQ002', MESSAGE = format('rpc %s.%s: the arguments are %s bytes, more than this database''s limit of %s bytes', p_module, p_method, octet_length(p_args::text), v_config.max_args_bytes),
      HINT = 'pass less per call (the operator sets the limit with IASQL_RPC_MAX_ARGS_BYTES)';
  END IF;
  v_deadline := clock_timestamp() + make_interval(secs => v_timeout_ms / 1000.0);
  v_left_ms := v_timeout_ms;
  IF NOT coalesce('iasql_rpc' = ANY (iasql_internal.dblink_get_connections()), false) THEN
    v_conninfo := v_config.conninfo;
    IF v_conninfo IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'IQ008', MESSAGE = 'the rpc queue is not configured in this database',
        HINT = 'start the iasql engine: it configures every database it manages';
    END IF;
    BEGIN
      PERFORM iasql_internal.dblink_connect('iasql_rpc', v_conninfo);
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION USING ERRCODE = 'IQ008', MESSAGE = 'cannot reach the iasql rpc queue',
        HINT = 'is the iasql engine running? its metadata database must be reachable from this server';
    END;
  END IF;

  SELECT id INTO v_id FROM iasql_internal.dblink('iasql_rpc', format(
    'SELECT public.iasql_rpc_enqueue(%L, %L, %L::jsonb, %s)', p_module, p_method, p_args::text, v_timeout_ms)) AS t(id bigint);

  BEGIN
    LOOP
      -- While queued, the queue side waits up to 20 ms for a worker to take the call.
      SELECT s.status, s.result, s.error INTO v_status, v_result, v_error
        FROM iasql_internal.dblink('iasql_rpc', format('SELECT * FROM public.iasql_rpc_status(%s, %s)', v_id, least(20, greatest(v_left_ms, 1))))
          AS s(status text, result jsonb, error jsonb);
      EXIT WHEN v_status NOT IN ('queued', 'running');
      v_left_ms := ceil(extract(epoch FROM v_deadline - clock_timestamp()) * 1000);
      IF v_left_ms <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'lock_not_available';
      END IF;
      IF v_status = 'running' THEN
        -- Blocks until the worker releases the call's lock: finished, or its connection died. In
        -- slices: between them, what the handler is doing goes to the caller as a NOTICE.
        LOOP
          BEGIN
            PERFORM set_config('lock_timeout', least(v_left_ms, 1500) || 'ms', true);
            PERFORM pg_advisory_xact_lock(v_id);
            PERFORM set_config('lock_timeout', v_lock_timeout, true);
            EXIT;
          EXCEPTION WHEN lock_not_available THEN
            v_left_ms := ceil(extract(epoch FROM v_deadline - clock_timestamp()) * 1000);
            IF v_left_ms <= 0 THEN
              RAISE EXCEPTION USING ERRCODE = 'lock_not_available'; -- caught below: the call timed out
            END IF;
            SELECT p INTO v_progress FROM iasql_internal.dblink('iasql_rpc', format('SELECT public.iasql_rpc_progress(%s)', v_id)) AS t(p text);
            IF v_progress IS NOT NULL AND v_progress IS DISTINCT FROM v_shown THEN
              RAISE NOTICE '%', v_progress;
              v_shown := v_progress;
            END IF;
          END;
        END LOOP;
        SELECT s.status, s.result, s.error INTO v_status, v_result, v_error
          FROM iasql_internal.dblink('iasql_rpc', format('SELECT * FROM public.iasql_rpc_status(%s)', v_id))
            AS s(status text, result jsonb, error jsonb);
        IF v_status IN ('queued', 'running') THEN
          PERFORM * FROM iasql_internal.dblink('iasql_rpc', format('SELECT public.iasql_rpc_abandon(%s, %L, %L)', v_id, 'failed',
            jsonb_build_object('sqlstate', 'IQ005', 'message', 'the engine running this call stopped before it finished')::text)) AS t(ok boolean);
          RAISE EXCEPTION USING ERRCODE = 'IQ005', MESSAGE = format('rpc %s.%s: the engine running this call stopped before it finished', p_module, p_method),
            HINT = CASE WHEN p_module = 'iasql_commit' AND p_method IN ('iasql_commit', 'iasql_rollback', 'iasql_sync')
                        THEN 'the commit was cut off mid-way: SELECT * FROM iasql_rollback() recovers it'
                        ELSE 'the call may have been partly done; check its effects, then call again' END;
        END IF;
        EXIT;
      END IF;
    END LOOP;
  EXCEPTION
    WHEN lock_not_available THEN
      PERFORM * FROM iasql_internal.dblink('iasql_rpc', format('SELECT public.iasql_rpc_abandon(%s, %L, %L)', v_id, 'timed_out',
        jsonb_build_object('sqlstate', 'IQ004', 'message', format('timed out after %s ms', v_timeout_ms))::text)) AS t(ok boolean);
      RAISE EXCEPTION USING ERRCODE = 'IQ004', MESSAGE = format('rpc %s.%s timed out after %s ms', p_module, p_method, v_timeout_ms),
        HINT = 'raise the limit for this call with SET iasql.rpc_timeout_ms = ...';
    WHEN query_canceled THEN
      PERFORM * FROM iasql_internal.dblink('iasql_rpc', format('SELECT public.iasql_rpc_abandon(%s, %L, %L)', v_id,
        CASE WHEN SQLERRM LIKE '%statement timeout%' THEN 'timed_out' ELSE 'cancelled' END,
        jsonb_build_object('sqlstate', '57014', 'message', SQLERRM)::text)) AS t(ok boolean);
      RAISE;
    WHEN deadlock_detected THEN
      PERFORM * FROM iasql_internal.dblink('iasql_rpc', format('SELECT public.iasql_rpc_abandon(%s, %L, %L)', v_id, 'failed',
        jsonb_build_object('sqlstate', 'IQ006', 'message', 'deadlock with the calling transaction')::text)) AS t(ok boolean);
      RAISE EXCEPTION USING ERRCODE = 'IQ006', MESSAGE = format('rpc %s.%s needs rows or tables your own transaction holds locks on', p_module, p_method),
        HINT = 'commit or roll back the changes first, or call it outside the transaction';
  END;

  IF v_status = 'succeeded' THEN
    RETURN v_result;
  END IF;
  -- DETAIL and HINT only when there is one (an empty one still prints a line in psql).
  IF v_error->>'detail' IS NOT NULL AND v_error->>'hint' IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = coalesce(v_error->>'sqlstate', 'IQ001'), MESSAGE = coalesce(v_error->>'message', 'rpc failed'),
      DETAIL = v_error->>'detail', HINT = v_error->>'hint';
  ELSIF v_error->>'detail' IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = coalesce(v_error->>'sqlstate', 'IQ001'), MESSAGE = coalesce(v_error->>'message', 'rpc failed'),
      DETAIL = v_error->>'detail';
  ELSIF v_error->>'hint' IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = coalesce(v_error->>'sqlstate', 'IQ001'), MESSAGE = coalesce(v_error->>'message', 'rpc failed'),
      HINT = v_error->>'hint';
  ELSE
    RAISE EXCEPTION USING ERRCODE = coalesce(v_error->>'sqlstate', 'IQ001'), MESSAGE = coalesce(v_error->>'message', 'rpc failed');
  END IF;
END
$rpc$;
REVOKE ALL ON FUNCTION iasql_internal.rpc_call(text, text, jsonb, integer) FROM PUBLIC;
