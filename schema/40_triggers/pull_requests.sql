-- repository_row_counts follows the rows of pull_requests, whichever function inserts or deletes them
-- (once per statement, from its transition table).
CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON pull_requests
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_pull_requests();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON pull_requests
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_pull_requests();
