-- A stay that overlaps one already settled may be settled once the medical insurance bureau or
-- the health bureau has let it, with a reason: one exception for one stay, used once.
CREATE TABLE stay_exceptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id     BIGINT NOT NULL REFERENCES persons(id),
    facility_code TEXT NOT NULL REFERENCES facilities(code),
    admission_date TEXT NOT NULL,
    discharge_date TEXT NOT NULL,
    reason        TEXT NOT NULL,
    approved_by   TEXT NOT NULL,
    approved_at   TEXT NOT NULL,
    used_by_claim TEXT
);
CREATE INDEX stay_exceptions_person ON stay_exceptions(person_id);
