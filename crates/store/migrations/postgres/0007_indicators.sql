-- Targets of the supervision indicators, per region (the most specific region's target applies).
-- `value_ppm`: the target as parts per million (10% = 100000); `at_most` 1: the figure must not
-- exceed it (a self-pay ratio), 0: must reach it (a contract rate).
CREATE TABLE targets (
    region_code TEXT NOT NULL REFERENCES regions(code),
    indicator   TEXT NOT NULL,
    value_ppm   BIGINT NOT NULL CHECK (value_ppm BETWEEN 0 AND 1000000),
    at_most     BIGINT NOT NULL,
    source      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      TEXT NOT NULL,
    PRIMARY KEY (region_code, indicator)
);
CREATE INDEX claims_settled ON claims(settled_at);
