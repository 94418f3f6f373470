-- The row-count trigger functions follow the rule every other function here keeps: the service
-- role, which the product writes as, may execute them, and no one else may. Triggers fire whoever
-- writes, so this changes no behaviour; it keeps the grants uniform, so an audit (and the test
-- holding them) reads one rule instead of an exception.
GRANT EXECUTE ON FUNCTION count_stored_pull_requests() TO service_role;
GRANT EXECUTE ON FUNCTION count_stored_children() TO service_role;
