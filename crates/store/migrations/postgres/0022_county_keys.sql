-- Every person-scoped row carries its county code (the first six digits of its household's
-- region code), and on PostgreSQL every primary key, unique key and foreign key between such
-- tables includes it: what a distributed PostgreSQL (Citus, distributed by county_code) requires,
-- so that a settlement and a county's dashboard stay on one shard (docs/scaling.md). The county
-- code ends each key, so that the lookups by person, claim or household keep their index.
-- crates/store/tests/county_keys.rs checks the rule over the migrated schema.

-- The columns, filled from the household (persons, and through them what hangs off a person).
ALTER TABLE households ADD COLUMN county_code TEXT;
UPDATE households SET county_code = SUBSTR(region_code, 1, 6);
ALTER TABLE persons ADD COLUMN county_code TEXT;
UPDATE persons p SET county_code = h.county_code FROM households h WHERE h.household_no = p.household_no;

ALTER TABLE registry_events ADD COLUMN county_code TEXT;
ALTER TABLE registry_events DISABLE TRIGGER registry_events_append_only;
UPDATE registry_events e SET county_code = h.county_code FROM households h WHERE h.household_no = e.household_no;
UPDATE registry_events e SET county_code = p.county_code FROM persons p WHERE p.id = e.person_id AND e.county_code IS NULL;
ALTER TABLE registry_events ENABLE TRIGGER registry_events_append_only;

ALTER TABLE claims ADD COLUMN county_code TEXT;
ALTER TABLE accumulators ADD COLUMN county_code TEXT;
ALTER TABLE exams ADD COLUMN county_code TEXT;
ALTER TABLE disease_cards ADD COLUMN county_code TEXT;
ALTER TABLE batch_overrides ADD COLUMN county_code TEXT;
ALTER TABLE treatments ADD COLUMN county_code TEXT;
ALTER TABLE contracts ADD COLUMN county_code TEXT;
ALTER TABLE key_group_additions ADD COLUMN county_code TEXT;
ALTER TABLE follow_ups ADD COLUMN county_code TEXT;
ALTER TABLE stay_exceptions ADD COLUMN county_code TEXT;
ALTER TABLE person_burden ADD COLUMN county_code TEXT;
UPDATE claims t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE accumulators t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE exams t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE disease_cards t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE batch_overrides t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE treatments t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE contracts t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE key_group_additions t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE follow_ups t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE stay_exceptions t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;
UPDATE person_burden t SET county_code = p.county_code FROM persons p WHERE p.id = t.person_id;

ALTER TABLE disease_card_revisions ADD COLUMN county_code TEXT;
UPDATE disease_card_revisions r SET county_code = c.county_code FROM disease_cards c WHERE c.id = r.card_id;
ALTER TABLE screenings ADD COLUMN county_code TEXT;
UPDATE screenings t SET county_code = h.county_code FROM households h WHERE h.household_no = t.household_no;
ALTER TABLE household_economics ADD COLUMN county_code TEXT;
UPDATE household_economics t SET county_code = h.county_code FROM households h WHERE h.household_no = t.household_no;
ALTER TABLE warnings ADD COLUMN county_code TEXT;
UPDATE warnings t SET county_code = h.county_code FROM households h WHERE h.household_no = t.household_no;
ALTER TABLE warning_steps ADD COLUMN county_code TEXT;
UPDATE warning_steps s SET county_code = w.county_code FROM warnings w WHERE w.id = s.warning_id;

-- The rollups are keyed by region: their county is the key's first six digits.
ALTER TABLE claim_rollup ADD COLUMN county_code TEXT;
UPDATE claim_rollup SET county_code = SUBSTR(township, 1, 6);
ALTER TABLE township_figures ADD COLUMN county_code TEXT;
UPDATE township_figures SET county_code = SUBSTR(region_code, 1, 6);
ALTER TABLE county_rollup RENAME COLUMN county TO county_code;

-- Keys. Dropping a referenced key drops the foreign keys on it (CASCADE); they are made again
-- below with the county code in them.
ALTER TABLE households DROP CONSTRAINT households_pkey CASCADE,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (household_no, county_code);
ALTER TABLE persons DROP CONSTRAINT persons_pkey CASCADE, DROP CONSTRAINT persons_id_number_key,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code), ADD UNIQUE (id_number, county_code);
ALTER TABLE registry_events DROP CONSTRAINT registry_events_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
ALTER TABLE claims DROP CONSTRAINT claims_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (claim_no, county_code);
ALTER TABLE accumulators DROP CONSTRAINT accumulators_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (person_id, year, county_code);
ALTER TABLE exams DROP CONSTRAINT exams_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
ALTER TABLE disease_cards DROP CONSTRAINT disease_cards_pkey CASCADE, DROP CONSTRAINT disease_cards_person_id_disease_code_key,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code), ADD UNIQUE (person_id, disease_code, county_code);
ALTER TABLE disease_card_revisions DROP CONSTRAINT disease_card_revisions_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
ALTER TABLE screenings DROP CONSTRAINT screenings_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (campaign_id, household_no, county_code);
ALTER TABLE batch_overrides DROP CONSTRAINT batch_overrides_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (person_id, county_code);
ALTER TABLE treatments DROP CONSTRAINT treatments_pkey, DROP CONSTRAINT treatments_person_id_disease_code_key,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code), ADD UNIQUE (person_id, disease_code, county_code);
ALTER TABLE contracts DROP CONSTRAINT contracts_pkey CASCADE, DROP CONSTRAINT contracts_person_id_year_key,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code), ADD UNIQUE (person_id, year, county_code);
ALTER TABLE key_group_additions DROP CONSTRAINT key_group_additions_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (person_id, key_group, county_code);
ALTER TABLE follow_ups DROP CONSTRAINT follow_ups_pkey, DROP CONSTRAINT follow_ups_submission_key_key,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code), ADD UNIQUE (submission_key, county_code);
ALTER TABLE stay_exceptions DROP CONSTRAINT stay_exceptions_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
ALTER TABLE person_burden DROP CONSTRAINT person_burden_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (person_id, month, county_code);
ALTER TABLE household_economics DROP CONSTRAINT household_economics_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
ALTER TABLE warnings DROP CONSTRAINT warnings_pkey CASCADE,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
DROP INDEX warnings_one_open;
CREATE UNIQUE INDEX warnings_one_open ON warnings(household_no, county_code) WHERE closed_on IS NULL;
ALTER TABLE warning_steps DROP CONSTRAINT warning_steps_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (id, county_code);
ALTER TABLE claim_rollup DROP CONSTRAINT claim_rollup_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (township, month, visit_type, county_code);
ALTER TABLE township_figures DROP CONSTRAINT township_figures_pkey,
    ALTER COLUMN county_code SET NOT NULL, ADD PRIMARY KEY (region_code, year, county_code);

-- Foreign keys between person-scoped tables, with the county code.
ALTER TABLE persons ADD FOREIGN KEY (household_no, county_code) REFERENCES households (household_no, county_code);
ALTER TABLE registry_events ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE claims ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE accumulators ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE exams ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE disease_cards ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE disease_card_revisions ADD FOREIGN KEY (card_id, county_code) REFERENCES disease_cards (id, county_code);
ALTER TABLE screenings ADD FOREIGN KEY (household_no, county_code) REFERENCES households (household_no, county_code);
ALTER TABLE batch_overrides ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE treatments ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE contracts ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code),
    ADD FOREIGN KEY (renewed_from, county_code) REFERENCES contracts (id, county_code);
ALTER TABLE key_group_additions ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE follow_ups ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code),
    ADD FOREIGN KEY (contract_id, county_code) REFERENCES contracts (id, county_code);
ALTER TABLE stay_exceptions ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE person_burden ADD FOREIGN KEY (person_id, county_code) REFERENCES persons (id, county_code);
ALTER TABLE household_economics ADD FOREIGN KEY (household_no, county_code) REFERENCES households (household_no, county_code);
ALTER TABLE warnings ADD FOREIGN KEY (household_no, county_code) REFERENCES households (household_no, county_code);
ALTER TABLE warning_steps ADD FOREIGN KEY (warning_id, county_code) REFERENCES warnings (id, county_code);

-- A claim number is settled once. The key of `claims` carries the county now, so the number's
-- own uniqueness is kept here, written with each claim (store/src/settlement.rs).
CREATE TABLE claim_numbers (claim_no TEXT PRIMARY KEY);
INSERT INTO claim_numbers (claim_no) SELECT claim_no FROM claims;

-- Every table above was rewritten: fresh statistics for the planner.
ANALYZE;
