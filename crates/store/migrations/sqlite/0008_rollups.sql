-- Settled claims summed by the person's township (the first 9 digits of the region code),
-- discharge month (YYYY-MM) and visit type. Every settlement adds its claim and every reversal
-- takes it away in the same transaction (store/src/rollup.rs), so that the dashboard of a county,
-- a city or the province reads thousands of rows, not millions of claims. `over_ceiling`: claims
-- whose patient paid more than 10% of the total.
CREATE TABLE claim_rollup (
    township      TEXT NOT NULL,
    month         TEXT NOT NULL,
    visit_type    TEXT NOT NULL,
    claims        INTEGER NOT NULL,
    total         INTEGER NOT NULL,
    in_policy     INTEGER NOT NULL,
    funds_total   INTEGER NOT NULL,
    patient_total INTEGER NOT NULL,
    fund_310101   INTEGER NOT NULL,
    fund_390101   INTEGER NOT NULL,
    fund_390201   INTEGER NOT NULL,
    fund_390401   INTEGER NOT NULL,
    fund_610101   INTEGER NOT NULL,
    fund_620101   INTEGER NOT NULL,
    fund_630101   INTEGER NOT NULL,
    fund_640101   INTEGER NOT NULL,
    fund_999996   INTEGER NOT NULL,
    over_ceiling  INTEGER NOT NULL,
    PRIMARY KEY (township, month, visit_type)
) WITHOUT ROWID;
INSERT INTO claim_rollup (township, month, visit_type, claims, total, in_policy, funds_total, patient_total, fund_310101, fund_390101, fund_390201, fund_390401, fund_610101, fund_620101, fund_630101, fund_640101, fund_999996, over_ceiling)
    SELECT SUBSTR(region_code, 1, 9), SUBSTR(discharge_date, 1, 7), visit_type, COUNT(*), SUM(total), SUM(in_policy), SUM(funds_total), SUM(patient_total), SUM(fund_310101), SUM(fund_390101), SUM(fund_390201), SUM(fund_390401), SUM(fund_610101), SUM(fund_620101), SUM(fund_630101), SUM(fund_640101), SUM(fund_999996), SUM(CASE WHEN patient_total * 10 > total THEN 1 ELSE 0 END)
    FROM claims WHERE status = 'settled' GROUP BY SUBSTR(region_code, 1, 9), SUBSTR(discharge_date, 1, 7), visit_type;

-- The population figures of a township for a year (registry, batches, screening, contracts,
-- follow-ups) as computed on `as_of`: counties, cities and the province sum their townships' rows
-- instead of going through millions of persons (app/src/indicators.rs). JSON of
-- `huimin_app::indicators::Population`.
CREATE TABLE township_figures (
    region_code TEXT NOT NULL REFERENCES regions(code),
    year        INTEGER NOT NULL,
    as_of       TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    figures     TEXT NOT NULL,
    PRIMARY KEY (region_code, year)
);
