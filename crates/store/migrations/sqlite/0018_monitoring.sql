-- 防止因病返贫动态监测 (docs/monitoring.md).
-- A household's economics as the village records them, with history: the latest row is current.
CREATE TABLE household_economics (
    id                  INTEGER PRIMARY KEY,
    household_no        TEXT NOT NULL REFERENCES households(household_no),
    as_of               TEXT NOT NULL,
    size                INTEGER NOT NULL CHECK (size BETWEEN 1 AND 99),
    per_capita_income   INTEGER CHECK (per_capita_income >= 0),
    monitoring_category TEXT CHECK (monitoring_category IN ('unstable', 'edge', 'sudden')),
    recorded_by         TEXT NOT NULL,
    recorded_at         TEXT NOT NULL
);
CREATE INDEX household_economics_household ON household_economics(household_no, id);

-- Warning rules files, checked before they are stored (policy/src/warning.rs).
CREATE TABLE warning_rules (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    region_code    TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to   TEXT NOT NULL,
    body           TEXT NOT NULL,
    loaded_by      TEXT NOT NULL,
    loaded_at      TEXT NOT NULL
);

-- A warning: a household a rule fired for, open (closed_on NULL) until its recognition ends; one
-- open warning per household.
CREATE TABLE warnings (
    id            INTEGER PRIMARY KEY,
    household_no  TEXT NOT NULL REFERENCES households(household_no),
    region_code   TEXT NOT NULL,
    rules_id      TEXT NOT NULL,
    rule_id       TEXT NOT NULL,
    rule_name     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    source        TEXT NOT NULL,
    out_of_pocket INTEGER NOT NULL,
    opened_on     TEXT NOT NULL,
    due_on        TEXT NOT NULL,
    opened_at     TEXT NOT NULL,
    closed_on     TEXT
);
CREATE UNIQUE INDEX warnings_one_open ON warnings(household_no) WHERE closed_on IS NULL;
CREATE INDEX warnings_region ON warnings(region_code, opened_on);
