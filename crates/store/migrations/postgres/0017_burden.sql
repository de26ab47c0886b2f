-- Each person's settled claims and compliant out-of-pocket spending (合规自付, fen) by discharge
-- month, kept with every settlement and reversal (store/src/rollup.rs): what the early warning
-- of poverty through illness sums over a household and a window of months. The rows of claims
-- settled before are written by the migration's step in Rust (Store::migrate), which reads bills.
CREATE TABLE person_burden (
    person_id     BIGINT NOT NULL REFERENCES persons(id),
    month         TEXT NOT NULL,
    claims        BIGINT NOT NULL,
    compliant_oop BIGINT NOT NULL,
    PRIMARY KEY (person_id, month)
);
