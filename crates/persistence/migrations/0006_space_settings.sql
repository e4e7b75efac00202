-- Live settings: the designer knobs an admin changed on a running space
-- (PUT /api/v1/admin/spaces/{id}/settings), one JSON object per space, read
-- again over the settings file at the next start; and the audit log of every
-- change, one row per field changed: who (the admin's account id, kept when
-- the account is gone), which field, its JSON value before and after, and
-- when (milliseconds since the Unix epoch).

CREATE TABLE space_settings (
    space_id BIGINT PRIMARY KEY REFERENCES spaces (id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE space_settings_audit (
    id BIGINT PRIMARY KEY,
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    admin_id BIGINT NOT NULL,
    field TEXT NOT NULL,
    before_value TEXT NOT NULL,
    after_value TEXT NOT NULL,
    changed_at_ms BIGINT NOT NULL
);

CREATE INDEX space_settings_audit_by_space ON space_settings_audit (space_id, id);
