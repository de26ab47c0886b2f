-- The role the Huimin server connects as on PostgreSQL (docs/security.md, "The audit log"):
-- it reads and writes the data, appends to the audit log and the registry's history, and can
-- neither change nor delete either, nor change the schema. Run it as the owner of the tables
-- (the role that runs `huimin migrate`), after every migration:
--   psql "$OWNER_URL" -f crates/store/sql/postgres-app-role.sql
--   psql "$OWNER_URL" -c "ALTER ROLE huimin_app PASSWORD '…'"
-- and serve with the app role: huimin serve --database-url postgres://huimin_app:…@host/db
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'huimin_app') THEN
        CREATE ROLE huimin_app LOGIN;
    END IF;
END
$$;
-- PostgreSQL before 15 lets every role create tables in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO huimin_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO huimin_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO huimin_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, registry_events FROM huimin_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM huimin_app;
