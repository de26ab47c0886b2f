-- A password an administrator set (a new user's, a reset) is changed by its user at the next login.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
