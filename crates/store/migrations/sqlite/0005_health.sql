-- Health files (一户一档, 一病一卡), screening campaigns, the three batches and the treatment ledger.

-- The disease catalogue as loaded, in order: the built-in file, then each county extension.
CREATE TABLE catalog_files (
    id        INTEGER PRIMARY KEY,
    file_name TEXT NOT NULL,
    body      TEXT NOT NULL,
    loaded_by TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);

-- Free physical examinations: blood pressure (mmHg), glucose (0.1 mmol/L), height (cm), weight (0.1 kg).
CREATE TABLE exams (
    id             INTEGER PRIMARY KEY,
    person_id      INTEGER NOT NULL REFERENCES persons(id),
    exam_date      TEXT NOT NULL,
    systolic       INTEGER,
    diastolic      INTEGER,
    glucose_tenths INTEGER,
    height_cm      INTEGER,
    weight_tenths  INTEGER,
    findings       TEXT NOT NULL,
    examined_at    TEXT NOT NULL,
    recorded_by    TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
);
CREATE INDEX exams_person ON exams(person_id, exam_date);

-- One card per disease (一病一卡). `confidential` is copied from the catalogue when recorded.
CREATE TABLE disease_cards (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id),
    disease_code TEXT NOT NULL,
    disease_name TEXT NOT NULL,
    diagnosed_on TEXT,
    diagnosed_at TEXT NOT NULL,
    prognosis    TEXT NOT NULL,
    plan         TEXT NOT NULL,
    confidential INTEGER NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    UNIQUE (person_id, disease_code)
);
CREATE INDEX disease_cards_code ON disease_cards(disease_code);

CREATE TABLE screening_campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions(code),
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- One screening record per household and campaign; a second visit replaces the first.
CREATE TABLE screenings (
    campaign_id  INTEGER NOT NULL REFERENCES screening_campaigns(id),
    household_no TEXT NOT NULL REFERENCES households(household_no),
    screened_on  TEXT NOT NULL,
    screened_by  TEXT NOT NULL,
    result       TEXT NOT NULL,
    illness_poor INTEGER NOT NULL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (campaign_id, household_no)
);

-- A batch set by hand instead of by the rules (`batch` NULL: in no batch), with the reason.
CREATE TABLE batch_overrides (
    person_id  INTEGER PRIMARY KEY REFERENCES persons(id),
    batch      TEXT,
    reason     TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL
);

-- The treatment ledger (救治台账) of the centralised-treatment batch: one line per patient and disease.
CREATE TABLE treatments (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES persons(id),
    disease_code  TEXT NOT NULL,
    facility_code TEXT REFERENCES facilities(code),
    plan          TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    identified_on TEXT NOT NULL,
    updated_on    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    UNIQUE (person_id, disease_code)
);
CREATE INDEX treatments_status ON treatments(status, identified_on);
