-- Statements the psycopg transport sends. Every atomic step is a SQL function from
-- migrations/; these only call them (the Supabase transport calls the same functions by RPC).

-- name: register_backfill
SELECT * FROM register_backfill(%(owner)s, %(name)s, %(total_prs)s, %(github_id)s);

-- name: get_next_chunk_number
SELECT get_next_chunk_number(%(backfill_state_id)s);

-- name: claim_backfill
SELECT * FROM claim_backfill(%(worker_id)s, %(lease_seconds)s, %(only)s::uuid[]);

-- name: heartbeat_backfill
SELECT heartbeat_backfill(%(backfill_state_id)s, %(claim_token)s, %(lease_seconds)s);

-- name: release_backfill
SELECT release_backfill(%(backfill_state_id)s, %(claim_token)s);

-- name: set_backfill_waiting
SELECT set_backfill_waiting(%(backfill_state_id)s, %(claim_token)s, %(until)s);

-- name: start_chunk
SELECT * FROM start_chunk(%(backfill_state_id)s, %(claim_token)s, %(worker_id)s);

-- name: record_chunk_prs
SELECT record_chunk_prs(%(chunk_id)s, %(claim_token)s, %(pr_numbers)s::integer[]);

-- name: commit_chunk
SELECT commit_chunk(%(chunk_id)s, %(claim_token)s, %(pull_requests)s::jsonb,
                    %(cursor_after)s, %(has_next_page)s, %(total_prs)s);

-- name: fail_chunk
SELECT fail_chunk(%(chunk_id)s, %(claim_token)s, %(error)s, %(cooldown_seconds)s);

-- name: fail_backfill
SELECT fail_backfill(%(backfill_state_id)s, %(claim_token)s, %(reason)s);

-- name: worker_heartbeat
SELECT worker_heartbeat(%(worker_id)s, %(host)s, %(pid)s, %(status)s,
                        %(backfill_state_id)s, %(detail)s);

-- name: record_rate_limit
SELECT record_rate_limit(%(token_fingerprint)s, %(remaining)s, %(limit)s, %(used)s,
                         %(reset_at)s, %(last_cost)s, %(average_cost_per_query)s, %(queries)s);

-- name: chunk_statistics
SELECT * FROM chunk_statistics(make_interval(hours => %(since_hours)s),
                               %(backfill_state_id)s, %(stuck_minutes)s);

-- name: backfill_progress
SELECT * FROM backfill_progress(make_interval(mins => %(rate_window_minutes)s));

-- name: rate_limits
SELECT * FROM github_rate_limits ORDER BY observed_at DESC;

-- name: workers
SELECT * FROM backfill_workers();

-- name: stuck_chunks
SELECT * FROM recovery_plan(%(stuck_minutes)s) LIMIT %(limit)s;

-- name: reopen_backfill
SELECT reopen_backfill(%(backfill_state_id)s, %(total_prs)s);

-- name: pause_backfill
SELECT pause_backfill(%(backfill_state_id)s);

-- name: resume_backfill
SELECT resume_backfill(%(backfill_state_id)s);

-- name: backfill_work_summary
SELECT * FROM backfill_work_summary(%(only)s::uuid[]);

-- name: recover_stuck_chunks
SELECT recover_stuck_chunks(%(stuck_minutes)s, %(cleanup_days)s, %(dry_run)s,
                            %(cleanup_batch)s);

-- name: prune_completed_chunks
SELECT prune_completed_chunks(%(cleanup_days)s, %(batch)s, false);
