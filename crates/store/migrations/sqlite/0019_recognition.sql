-- The recognition of a warned household, step by step (domain/src/recognition.rs): where it
-- stands, the day its village's notice went up, and every step taken with who, when and why.
ALTER TABLE warnings ADD COLUMN stage TEXT NOT NULL DEFAULT 'lead';
ALTER TABLE warnings ADD COLUMN notice_on TEXT;
CREATE TABLE warning_steps (
    id          INTEGER PRIMARY KEY,
    warning_id  INTEGER NOT NULL REFERENCES warnings(id),
    step        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    note        TEXT NOT NULL,
    taken_on    TEXT NOT NULL,
    taken_by    TEXT NOT NULL,
    role        TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX warning_steps_warning ON warning_steps(warning_id, id);
