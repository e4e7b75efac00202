-- Meridian's schema, written once for PostgreSQL and SQLite: only types and
-- statements both accept (BIGINT, INTEGER, TEXT, DOUBLE PRECISION; flags as 0/1
-- integers; ids handed out by id_sequences, not by SERIAL or AUTOINCREMENT).

CREATE TABLE id_sequences (
    name TEXT PRIMARY KEY,
    next_value BIGINT NOT NULL
);

CREATE TABLE accounts (
    id BIGINT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    avatar_id BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE avatar_catalogue (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    image_url TEXT NOT NULL
);

CREATE TABLE element_catalogue (
    id BIGINT PRIMARY KEY,
    image_url TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    is_static INTEGER NOT NULL
);

CREATE TABLE spaces (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    owner_id BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    is_template INTEGER NOT NULL,
    thumbnail TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE space_elements (
    id BIGINT PRIMARY KEY,
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    element_id BIGINT NOT NULL REFERENCES element_catalogue (id),
    x INTEGER NOT NULL,
    y INTEGER NOT NULL
);

CREATE INDEX space_elements_by_space ON space_elements (space_id);

CREATE TABLE characters (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    zone_id BIGINT NOT NULL,
    x DOUBLE PRECISION NOT NULL,
    y DOUBLE PRECISION NOT NULL,
    heading DOUBLE PRECISION NOT NULL,
    appearance BIGINT NOT NULL,
    inventory TEXT NOT NULL,
    inventory_version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, space_id)
);

CREATE TABLE chat_messages (
    id BIGINT PRIMARY KEY,
    space_id BIGINT NOT NULL,
    room TEXT NOT NULL,
    sender_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);

CREATE INDEX chat_messages_by_room ON chat_messages (space_id, room, id);

CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    blocked_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);

CREATE TABLE reports (
    id BIGINT PRIMARY KEY,
    reporter_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    reported_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE bans (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    banned_until BIGINT,
    created_at BIGINT NOT NULL
);

-- The ownership ledger of the sharding issue: a zone lease carries an epoch (a
-- fencing token); an entity's owner row names (zone, epoch) and moves by one
-- compare-and-set.
CREATE TABLE zone_leases (
    zone_id BIGINT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE entity_owners (
    entity_id BIGINT PRIMARY KEY,
    zone_id BIGINT NOT NULL,
    epoch BIGINT NOT NULL
);
