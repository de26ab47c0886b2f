-- The audit log and the registry's history are append-only: the database itself refuses to
-- change or delete their rows. (Someone with file access can still drop these triggers; the
-- audit log's hash chain is what detects that.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER registry_events_no_update BEFORE UPDATE ON registry_events BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END;
CREATE TRIGGER registry_events_no_delete BEFORE DELETE ON registry_events BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END;
