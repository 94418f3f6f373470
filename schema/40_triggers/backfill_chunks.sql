-- chunk_failure_counts follows the failed chunks, whichever function fails, un-fails or
-- deletes one; a completion does not fire them (the WHEN clauses are false for it).
CREATE TRIGGER count_failed_chunk_inserted AFTER INSERT ON backfill_chunks
    FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION count_failed_chunk();
CREATE TRIGGER count_failed_chunk_updated AFTER UPDATE OF status ON backfill_chunks
    FOR EACH ROW WHEN ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed'))
    EXECUTE FUNCTION count_failed_chunk();
CREATE TRIGGER uncount_failed_chunks AFTER DELETE ON backfill_chunks
    REFERENCING OLD TABLE AS gone_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION uncount_failed_chunks();
