-- Register a repository and its backfill (the first step of the chunk lifecycle, which both
-- transports call as SQL functions:
--   register_backfill -> claim_backfill -> start_chunk -> record_chunk_prs -> commit_chunk
--                        heartbeat_backfill / release_backfill / fail_chunk / fail_backfill
-- every write on behalf of a worker guarded by its fencing token and a live lease).
--
-- A repository is GitHub's node id, not its name. A repository renamed (or transferred) on
-- GitHub keeps its node id and its pull requests' ids, so registering it under the new name
-- finds the row the old name made and renames it: history, cursor and counts are kept, and no
-- second backfill is created that could only end 'completed' with 0 of N PRs stored.
--
-- Without a node id (older callers) the name decides. A name already registered for a
-- different node (the old repository was renamed away or deleted and its name reused) is
-- refused with both ids named, instead of mixing two repositories' histories.
--
-- The installation that sees the repository is written in the same statement as the
-- registration, so no worker can claim a new backfill before it is routed. NULL leaves a
-- known installation alone.
CREATE OR REPLACE FUNCTION public.register_backfill(p_owner text, p_name text, p_total_prs integer, p_github_id text DEFAULT NULL::text, p_installation_id bigint DEFAULT NULL::bigint)
 RETURNS TABLE(repository_id uuid, backfill_state_id uuid, owner text, name text, status text, created boolean)
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    v_repo repositories%ROWTYPE;
    v_named repositories%ROWTYPE;
    v_state_id uuid;
    v_created boolean := false;
BEGIN
    SELECT * INTO v_named FROM repositories r
     WHERE lower(r.owner) = lower(p_owner) AND lower(r.name) = lower(p_name)
       FOR UPDATE;
    IF p_github_id IS NOT NULL THEN
        SELECT * INTO v_repo FROM repositories r WHERE r.github_id = p_github_id FOR UPDATE;
    END IF;

    IF v_repo.id IS NOT NULL THEN
        IF v_named.id IS NOT NULL AND v_named.id <> v_repo.id THEN
            RAISE EXCEPTION '%/% is registered for another GitHub repository (node %), but GitHub now gives that name to node %',
                p_owner, p_name, coalesce(v_named.github_id, 'unknown'), p_github_id
                USING ERRCODE = '23505',
                      HINT = 'remove the old repository first (backfill-console remove)';
        END IF;
        IF (v_repo.owner, v_repo.name) IS DISTINCT FROM (p_owner, p_name) THEN
            UPDATE repositories SET owner = p_owner, name = p_name, updated_at = now()
             WHERE id = v_repo.id;  -- renamed or transferred on GitHub
        END IF;
    ELSIF v_named.id IS NOT NULL THEN
        IF p_github_id IS NOT NULL AND v_named.github_id IS NOT NULL
           AND v_named.github_id <> p_github_id THEN
            RAISE EXCEPTION '%/% is registered for another GitHub repository (node %), but GitHub now gives that name to node %',
                p_owner, p_name, v_named.github_id, p_github_id
                USING ERRCODE = '23505',
                      HINT = 'remove the old repository first (backfill-console remove)';
        END IF;
        UPDATE repositories SET github_id = coalesce(github_id, p_github_id)
         WHERE id = v_named.id AND github_id IS NULL AND p_github_id IS NOT NULL;
        v_repo := v_named;
    ELSE
        INSERT INTO repositories (owner, name, github_id, installation_id)
        VALUES (p_owner, p_name, p_github_id, p_installation_id)
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_repo;
        IF v_repo.id IS NULL THEN  -- registered concurrently by another process
            SELECT * INTO v_repo FROM repositories r
             WHERE lower(r.owner) = lower(p_owner) AND lower(r.name) = lower(p_name);
        END IF;
    END IF;

    IF p_installation_id IS NOT NULL THEN  -- moved to another installation, or routed now
        UPDATE repositories SET installation_id = p_installation_id, updated_at = now()
         WHERE id = v_repo.id AND installation_id IS DISTINCT FROM p_installation_id;
    END IF;

    INSERT INTO progressive_backfill_state (repository_id, total_prs)
    VALUES (v_repo.id, NULLIF(p_total_prs, 0))
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_state_id;
    v_created := v_state_id IS NOT NULL;
    IF NOT v_created THEN
        SELECT s.id INTO v_state_id FROM progressive_backfill_state s
         WHERE s.repository_id = v_repo.id;
    END IF;

    RETURN QUERY
        SELECT r.id, s.id, r.owner, r.name, s.status, v_created
          FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id
         WHERE r.id = v_repo.id;
END
$function$;

REVOKE ALL ON FUNCTION register_backfill(text,text,integer,text,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION register_backfill(text,text,integer,text,bigint) TO service_role;
