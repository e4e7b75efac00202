-- Rooms: the copies of a space that run side by side when one copy is full.
-- A space's capacity is the most seats a room holds (NULL: one room, no cap),
-- and overflow (0/1, default 1) says whether another room opens when every
-- room is full. A seat is reserved by a join (it lapses at expires_at, Unix
-- seconds, unless taken) and taken when the player arrives (it never lapses).
-- A room lives while it holds a seat: the last seat to go deletes it.
-- room_seats repeats the space, so the key (space_id, account_id) holds an
-- account to one seat per space.

ALTER TABLE spaces ADD COLUMN capacity BIGINT;

ALTER TABLE spaces ADD COLUMN overflow INTEGER NOT NULL DEFAULT 1;

CREATE TABLE rooms (
    id BIGINT PRIMARY KEY,
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (space_id, number)
);

CREATE TABLE room_seats (
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'taken')),
    expires_at BIGINT,
    PRIMARY KEY (space_id, account_id),
    CHECK (state = 'taken' OR expires_at IS NOT NULL)
);

CREATE INDEX room_seats_by_room ON room_seats (room_id);

CREATE INDEX room_seats_by_expiry ON room_seats (expires_at);
