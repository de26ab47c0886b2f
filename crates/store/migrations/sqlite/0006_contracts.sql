-- Family-doctor teams, contracts, key groups and follow-ups.

-- A team serves an area (a region code); its members may come from any facility (county doctors
-- join township teams). `username` links a member to their login for the worklist.
CREATE TABLE teams (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    facility_code TEXT NOT NULL REFERENCES facilities(code),
    region_code   TEXT NOT NULL REFERENCES regions(code),
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX teams_region ON teams(region_code);

CREATE TABLE team_members (
    id            INTEGER PRIMARY KEY,
    team_id       INTEGER NOT NULL REFERENCES teams(id),
    name          TEXT NOT NULL,
    duty          TEXT NOT NULL,
    phone         TEXT NOT NULL,
    facility_code TEXT REFERENCES facilities(code),
    username      TEXT
);
CREATE INDEX team_members_team ON team_members(team_id);
CREATE INDEX team_members_username ON team_members(username);

-- One contract per person and year; a renewal is next year's contract pointing at the last one.
CREATE TABLE contracts (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id),
    team_id      INTEGER NOT NULL REFERENCES teams(id),
    year         INTEGER NOT NULL,
    starts_on    TEXT NOT NULL,
    ends_on      TEXT NOT NULL,
    services     TEXT NOT NULL,
    signed_by    TEXT NOT NULL,
    signed_on    TEXT NOT NULL,
    renewed_from INTEGER REFERENCES contracts(id),
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    UNIQUE (person_id, year)
);
CREATE INDEX contracts_team ON contracts(team_id, year);

-- Key groups added by hand (pregnancy, disability: the registry does not hold them).
CREATE TABLE key_group_additions (
    person_id INTEGER NOT NULL REFERENCES persons(id),
    key_group TEXT NOT NULL,
    reason    TEXT NOT NULL,
    added_by  TEXT NOT NULL,
    added_at  TEXT NOT NULL,
    PRIMARY KEY (person_id, key_group)
);

-- `submission_key` comes with the form: a submission sent twice (a dropped connection, a
-- double tap) is stored once.
CREATE TABLE follow_ups (
    id             INTEGER PRIMARY KEY,
    submission_key TEXT NOT NULL UNIQUE,
    person_id      INTEGER NOT NULL REFERENCES persons(id),
    contract_id    INTEGER NOT NULL REFERENCES contracts(id),
    followed_on    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    systolic       INTEGER,
    diastolic      INTEGER,
    glucose_tenths INTEGER,
    heart_rate     INTEGER,
    weight_tenths  INTEGER,
    adherence      TEXT NOT NULL,
    guidance       TEXT NOT NULL,
    next_on        TEXT,
    abnormal       TEXT NOT NULL,
    recorded_by    TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
);
CREATE INDEX follow_ups_person ON follow_ups(person_id, followed_on);
CREATE INDEX follow_ups_contract ON follow_ups(contract_id);

-- Follow-ups a year for a region (the most specific region's rule applies; default 12 and 4).
CREATE TABLE follow_up_rules (
    region_code  TEXT PRIMARY KEY REFERENCES regions(code),
    key_per_year   INTEGER NOT NULL,
    other_per_year INTEGER NOT NULL,
    set_by       TEXT NOT NULL,
    set_at       TEXT NOT NULL
);
