-- Settlement: policies in use, settled claims with their one bill, per-layer lines for the
-- funds, and each person's yearly accumulators.

CREATE TABLE policies (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    region_code    TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to   TEXT NOT NULL,
    draft          BIGINT NOT NULL DEFAULT 0,
    body           TEXT NOT NULL,
    loaded_by      TEXT NOT NULL,
    loaded_at      TEXT NOT NULL
);

CREATE TABLE claims (
    claim_no         TEXT PRIMARY KEY,
    person_id        BIGINT NOT NULL REFERENCES persons(id),
    facility_code    TEXT NOT NULL REFERENCES facilities(code),
    region_code      TEXT NOT NULL,
    policy_id        TEXT NOT NULL REFERENCES policies(id),
    year             BIGINT NOT NULL,
    category         TEXT NOT NULL,
    visit_type       TEXT NOT NULL,
    facility_level   BIGINT NOT NULL,
    in_county        BIGINT NOT NULL,
    admission_date   TEXT NOT NULL,
    discharge_date   TEXT NOT NULL,
    disease_codes    TEXT NOT NULL,
    cat_a            BIGINT NOT NULL,
    cat_b            BIGINT NOT NULL,
    out_of_catalogue BIGINT NOT NULL,
    necessary        BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    in_policy        BIGINT NOT NULL,
    funds_total      BIGINT NOT NULL,
    patient_total    BIGINT NOT NULL,
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
    paid_p   BIGINT NOT NULL,
    paid_b   BIGINT NOT NULL,
    paid_n   BIGINT NOT NULL,
    paid_o   BIGINT NOT NULL,
    total    BIGINT NOT NULL,
    PRIMARY KEY (claim_no, layer_id)
);
CREATE INDEX claim_lines_fund ON claim_lines(fund);

CREATE TABLE accumulators (
    person_id BIGINT NOT NULL REFERENCES persons(id),
    year      BIGINT NOT NULL,
    layer_id  TEXT NOT NULL,
    base      BIGINT NOT NULL,
    paid      BIGINT NOT NULL,
    PRIMARY KEY (person_id, year, layer_id)
);

-- One row per person and year, updated first by every settlement and reversal of that person:
-- the row lock serialises them, so two at the same moment cannot both pass a cap.
CREATE TABLE person_years (
    person_id BIGINT NOT NULL REFERENCES persons(id),
    year      BIGINT NOT NULL,
    version   BIGINT NOT NULL,
    PRIMARY KEY (person_id, year)
);
