-- An owner row also counts its changes: a claim of a new row starts at version
-- 0, a re-claim and a move each set the next version. A move's compare-and-set
-- checks (zone, epoch, version), so an old move replayed after the entity went
-- A -> B -> A (the same zone and epoch again) can never apply twice. Rows that
-- exist already start at 0.

ALTER TABLE entity_owners ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
