-- Settlement: policies in use, settled claims with their one bill and what each fund paid, and
-- each person's yearly accumulators.

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
    -- What each fund paid (national fund codes): the sums reports and reconciliation need.
    fund_310101      INTEGER NOT NULL,
    fund_390101      INTEGER NOT NULL,
    fund_390201      INTEGER NOT NULL,
    fund_390401      INTEGER NOT NULL,
    fund_610101      INTEGER NOT NULL,
    fund_620101      INTEGER NOT NULL,
    fund_630101      INTEGER NOT NULL,
    fund_640101      INTEGER NOT NULL,
    fund_999996      INTEGER NOT NULL,
    -- The one bill (see store/src/bill_text.rs): every layer's payment by bucket, accumulators before and after.
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

-- One row per person and year: each layer's cumulative base and payment, as
-- "layer:base:paid;…" (fen). Settlements and reversals of that person first bump `version`
-- (INSERT … ON CONFLICT DO UPDATE … RETURNING): on PostgreSQL that takes the row lock, on SQLite
-- the write lock, so two at the same moment can never read the same figures and pass a cap.
CREATE TABLE accumulators (
    person_id INTEGER NOT NULL REFERENCES persons(id),
    year      INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    layers    TEXT NOT NULL,
    PRIMARY KEY (person_id, year)
);
