-- A shared ledger of GitHub server time per token: every request of every process takes its
-- room here, atomically, before it is sent (reserve_server_time), so "the sum of admitted
-- and in-flight server time within the window <= budget" holds by construction, whatever
-- the number of processes; settle_server_time replaces the estimate by the measured time.
-- The window is judged on the database's clock. A process killed mid-request leaves its
-- reservation unsettled: it counts at most GitHub's kill time and leaves the window like
-- any other. Reservations are kept for an hour (sixty windows) so the rule can be checked
-- afterwards.
CREATE TABLE github_server_time (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_fingerprint text NOT NULL,
    process           text NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    estimate          double precision NOT NULL,  -- what it was admitted on
    seconds           double precision NOT NULL,  -- the estimate, then the measured time
    settled           boolean NOT NULL DEFAULT false,
    settled_at        timestamptz
);
CREATE INDEX github_server_time_token_started
    ON github_server_time (token_fingerprint, started_at);

ALTER TABLE github_server_time ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON github_server_time FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE github_server_time FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE github_server_time TO service_role;
