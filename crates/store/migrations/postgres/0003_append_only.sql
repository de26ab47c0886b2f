-- The audit log and the registry's history are append-only: the database itself refuses to
-- change or delete their rows. (A superuser can still drop these triggers; the audit log's hash
-- chain is what detects that.)
CREATE FUNCTION huimin_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION huimin_append_only();
CREATE TRIGGER registry_events_append_only BEFORE UPDATE OR DELETE ON registry_events
    FOR EACH ROW EXECUTE FUNCTION huimin_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION huimin_append_only();
CREATE TRIGGER registry_events_no_truncate BEFORE TRUNCATE ON registry_events
    FOR EACH STATEMENT EXECUTE FUNCTION huimin_append_only();
