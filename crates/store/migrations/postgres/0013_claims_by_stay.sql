-- A person's stays by admission date: a new stay is checked against the settled ones.
CREATE INDEX claims_person_stay ON claims(person_id, admission_date);
