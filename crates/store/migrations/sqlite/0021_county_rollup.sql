-- The claim rollup one level up: settled claims summed by the person's county (the first 6
-- digits of the region code), discharge month and visit type, written with claim_rollup in the
-- same transactions (store/src/rollup.rs). A city's or the province's dashboard sums a few
-- thousand rows of it instead of a hundred thousand township rows.
CREATE TABLE county_rollup (
    county        TEXT NOT NULL,
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
    PRIMARY KEY (county, month, visit_type)
) WITHOUT ROWID;
INSERT INTO county_rollup (county, month, visit_type, claims, total, in_policy, funds_total, patient_total, fund_310101, fund_390101, fund_390201, fund_390401, fund_610101, fund_620101, fund_630101, fund_640101, fund_999996, over_ceiling)
    SELECT SUBSTR(township, 1, 6), month, visit_type, SUM(claims), SUM(total), SUM(in_policy), SUM(funds_total), SUM(patient_total), SUM(fund_310101), SUM(fund_390101), SUM(fund_390201), SUM(fund_390401), SUM(fund_610101), SUM(fund_620101), SUM(fund_630101), SUM(fund_640101), SUM(fund_999996), SUM(over_ceiling)
    FROM claim_rollup GROUP BY SUBSTR(township, 1, 6), month, visit_type;
