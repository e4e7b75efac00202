-- The ledger reloads every owner row of a zone after a takeover
-- (`Store::owners_in`), so owner rows are indexed by zone.

CREATE INDEX entity_owners_by_zone ON entity_owners (zone_id, entity_id);
