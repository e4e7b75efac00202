-- Refresh tokens: stored as the hex SHA-256 of the token (the token itself is
-- never stored), with their account, their family (every token rotated from
-- one login) and their expiry. A rotated or revoked token keeps its row with
-- revoked_at set until it expires, so a second use of it is recognised as
-- theft and revokes the whole family.

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
