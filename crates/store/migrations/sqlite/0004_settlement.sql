-- Settlement: policies in use, settled claims with their one bill, per-layer lines for the
-- funds, and each person's yearly accumulators.

CREATE TABLE policies (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    region_code    TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to   TEXT NOT NULL,
    draft          INTEGER NOT NULL DEFAULT 0,
    body           TEXT NOT NULL,
    loaded_by      TEXT NOT NULL,
    loaded_at      TEXT NOT NULL
);

CREATE TABLE claims (
    claim_no         TEXT PRIMARY KEY,
    person_id        INTEGER NOT NULL REFERENCES persons(id),
    facility_code    TEXT NOT NULL REFERENCES facilities(code),
    region_code      TEXT NOT NULL,
    policy_id        TEXT NOT NULL REFERENCES policies(id),
    year             INTEGER NOT NULL,
    category         TEXT NOT NULL,
    visit_type       TEXT NOT NULL,
    facility_level   INTEGER NOT NULL,
    in_county        INTEGER NOT NULL,
    admission_date   TEXT NOT NULL,
    discharge_date   TEXT NOT NULL,
    disease_codes    TEXT NOT NULL,
    cat_a            INTEGER NOT NULL,
    cat_b            INTEGER NOT NULL,
    out_of_catalogue INTEGER NOT NULL,
    necessary        INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    in_policy        INTEGER NOT NULL,
    funds_total      INTEGER NOT NULL,
    patient_total    INTEGER NOT NULL,
    bill             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('settled', 'reversed')),
    settled_by       TEXT NOT NULL,
    settled_at       TEXT NOT NULL,
    reversed_by      TEXT,
    reversed_at      TEXT,
    reversal_reason  TEXT
);
CREATE INDEX claims_person ON claims(person_id, year);
CREATE INDEX claims_facility ON claims(facility_code, settled_at);
CREATE INDEX claims_region ON claims(region_code, discharge_date);

CREATE TABLE claim_lines (
    claim_no TEXT NOT NULL REFERENCES claims(claim_no),
    layer_id TEXT NOT NULL,
    fund     TEXT NOT NULL,
    paid_p   INTEGER NOT NULL,
    paid_b   INTEGER NOT NULL,
    paid_n   INTEGER NOT NULL,
    paid_o   INTEGER NOT NULL,
    total    INTEGER NOT NULL,
    PRIMARY KEY (claim_no, layer_id)
);
CREATE INDEX claim_lines_fund ON claim_lines(fund);

CREATE TABLE accumulators (
    person_id INTEGER NOT NULL REFERENCES persons(id),
    year      INTEGER NOT NULL,
    layer_id  TEXT NOT NULL,
    base      INTEGER NOT NULL,
    paid      INTEGER NOT NULL,
    PRIMARY KEY (person_id, year, layer_id)
);

-- One row per person and year, updated first by every settlement and reversal of that person:
-- the row lock serialises them, so two at the same moment cannot both pass a cap.
CREATE TABLE person_years (
    person_id INTEGER NOT NULL REFERENCES persons(id),
    year      INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (person_id, year)
);
