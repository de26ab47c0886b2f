-- The overlap check finds a person's stays through claims_person (person_id, year): a person has
-- a few claims a year, and a second index on every claim halved the speed of batch settlement.
DROP INDEX IF EXISTS claims_person_stay;
