-- The registry: regions, facilities, households, persons and their history.
-- Dates are ISO-8601 text (YYYY-MM-DD), timestamps RFC 3339 text, money integer fen, flags 0/1:
-- the same representation on SQLite and PostgreSQL keeps one set of queries for both.

CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    level       INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    parent_code TEXT REFERENCES regions(code)
);
CREATE INDEX regions_parent ON regions(parent_code);

CREATE TABLE facilities (
    code         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    level        INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    kind         TEXT NOT NULL,
    region_code  TEXT NOT NULL REFERENCES regions(code),
    designated   INTEGER NOT NULL DEFAULT 0,
    poverty_beds INTEGER NOT NULL DEFAULT 0 CHECK (poverty_beds >= 0)
);
CREATE INDEX facilities_region ON facilities(region_code);

CREATE TABLE imports (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    actor          TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    summary        TEXT NOT NULL
);

CREATE TABLE households (
    household_no TEXT PRIMARY KEY,
    region_code  TEXT NOT NULL REFERENCES regions(code),
    head_name    TEXT NOT NULL,
    category     TEXT NOT NULL,
    status       TEXT NOT NULL,
    cause        TEXT NOT NULL,
    phone        TEXT,
    in_programme INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX households_region ON households(region_code);

CREATE TABLE persons (
    id           INTEGER PRIMARY KEY,
    id_number    TEXT NOT NULL UNIQUE,
    household_no TEXT NOT NULL REFERENCES households(household_no),
    name         TEXT NOT NULL,
    initials     TEXT NOT NULL,
    relation     TEXT NOT NULL,
    sex          TEXT NOT NULL,
    birth_date   TEXT NOT NULL,
    ethnicity    TEXT NOT NULL,
    phone        TEXT,
    in_programme INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX persons_household ON persons(household_no);
CREATE INDEX persons_name ON persons(name);
CREATE INDEX persons_initials ON persons(initials);

-- Entry (准入), exit (退出) and change events; never updated or deleted.
CREATE TABLE registry_events (
    id             INTEGER PRIMARY KEY,
    household_no   TEXT NOT NULL,
    person_id      INTEGER REFERENCES persons(id),
    kind           TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'change')),
    effective_date TEXT NOT NULL,
    reason         TEXT NOT NULL,
    changes        TEXT,
    actor          TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    import_id      INTEGER REFERENCES imports(id)
);
CREATE INDEX registry_events_household ON registry_events(household_no);
CREATE INDEX registry_events_person ON registry_events(person_id);
