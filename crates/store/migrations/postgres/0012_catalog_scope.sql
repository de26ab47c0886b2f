-- A county's catalogue extension applies inside the region that loaded it (NULL: everywhere,
-- as files loaded before extensions were scoped did).
ALTER TABLE catalog_files ADD COLUMN region_code TEXT;
