-- A space is private when its owner says so at creation: then only its owner
-- and the admins may see, enter or read it. Spaces made before this migration
-- stay as they were (shared with anyone who has their id).

ALTER TABLE spaces ADD COLUMN is_private INTEGER NOT NULL DEFAULT 0;
