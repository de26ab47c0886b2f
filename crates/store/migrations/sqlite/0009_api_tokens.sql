-- Bearer tokens for machine clients (a hospital system, the insurance office's exchange). A token
-- acts as its user: the user's role, region and facility bound what it can do, exactly as on the
-- pages. Only the SHA-256 of the token is stored; it is shown once when made.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
