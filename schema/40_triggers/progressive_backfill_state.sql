-- progressed_at remembers when the stored PRs last grew, whichever function moved them: one
-- trigger, not a line in each of them.
CREATE TRIGGER note_progress BEFORE UPDATE OF processed_prs ON progressive_backfill_state
    FOR EACH ROW EXECUTE FUNCTION note_progress();
