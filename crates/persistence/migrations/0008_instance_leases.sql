-- Instance leases: which shard of a cluster runs the instance of a space's
-- room. The same rules as zone_leases: a lease is (holder, epoch,
-- expires_at); a lapsed lease goes to the next asker under epoch + 1 (the
-- fencing token); only the holder renews it, and only while it is valid.
-- gateway is the holder's public HTTP address, a hint for the shards that
-- send a join on to it (never used to decide who holds what). Times are
-- milliseconds chosen by the caller.

CREATE TABLE instance_leases (
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    room_number BIGINT NOT NULL,
    holder TEXT NOT NULL,
    gateway TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (space_id, room_number)
);

CREATE INDEX instance_leases_by_holder ON instance_leases (holder);
