-- Each entry's MAC (HMAC-SHA256 of its hash under a key kept outside the database), and the
-- region the entry concerns (the acting user's), so that each user searches only their own.
ALTER TABLE audit_log ADD COLUMN mac TEXT;
ALTER TABLE audit_log ADD COLUMN region_code TEXT;
CREATE INDEX audit_log_region ON audit_log(region_code);
