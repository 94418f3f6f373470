-- repository_row_counts follows the rows of review_threads, whichever function inserts or deletes them
-- (once per statement, from its transition table).
CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON review_threads
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON review_threads
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
