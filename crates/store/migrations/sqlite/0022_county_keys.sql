-- Every person-scoped row carries its county code (the first six digits of its household's
-- region code). The keys stay as they are on SQLite, which is never distributed; on PostgreSQL
-- every key between such tables includes it (postgres/0022_county_keys.sql, docs/scaling.md).
-- Written by the store on every insert; '' is never a county, so a row written without one is
-- found by crates/store/tests/county_keys.rs.

-- The columns, filled from the household (persons, and through them what hangs off a person).
ALTER TABLE households ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE households SET county_code = SUBSTR(region_code, 1, 6);
ALTER TABLE persons ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE persons AS p SET county_code = h.county_code FROM households h WHERE h.household_no = p.household_no;

ALTER TABLE registry_events ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
DROP TRIGGER registry_events_no_update;
UPDATE registry_events AS e SET county_code = h.county_code FROM households h WHERE h.household_no = e.household_no;
UPDATE registry_events AS e SET county_code = p.county_code FROM persons p WHERE p.id = e.person_id AND e.county_code = '';
CREATE TRIGGER registry_events_no_update BEFORE UPDATE ON registry_events BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END;

ALTER TABLE claims ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE accumulators ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE exams ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE disease_cards ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_overrides ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE treatments ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE contracts ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE key_group_additions ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE follow_ups ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE stay_exceptions ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
ALTER TABLE person_burden ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE claims AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE accumulators AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE exams AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE disease_cards AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE batch_overrides AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE treatments AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE contracts AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE key_group_additions AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE follow_ups AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE stay_exceptions AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE person_burden AS t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;

ALTER TABLE disease_card_revisions ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE disease_card_revisions AS r SET county_code = c.county_code FROM disease_cards c WHERE c.id = r.card_id;
ALTER TABLE screenings ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE screenings AS t SET county_code = h.county_code FROM households h WHERE h.household_no = t.household_no;
ALTER TABLE household_economics ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE household_economics AS t SET county_code = h.county_code FROM households h WHERE h.household_no = t.household_no;
ALTER TABLE warnings ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE warnings AS t SET county_code = h.county_code FROM households h WHERE h.household_no = t.household_no;
ALTER TABLE warning_steps ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE warning_steps AS s SET county_code = w.county_code FROM warnings w WHERE w.id = s.warning_id;

-- The rollups are keyed by region: their county is the key's first six digits.
ALTER TABLE claim_rollup ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE claim_rollup SET county_code = SUBSTR(township, 1, 6);
ALTER TABLE township_figures ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
UPDATE township_figures SET county_code = SUBSTR(region_code, 1, 6);
ALTER TABLE county_rollup RENAME COLUMN county TO county_code;

