-- A disease card saved again for the same code is an update: the values it replaces are kept.
CREATE TABLE disease_card_revisions (
    id           INTEGER PRIMARY KEY,
    card_id      INTEGER NOT NULL REFERENCES disease_cards(id),
    disease_name TEXT NOT NULL,
    diagnosed_on TEXT,
    diagnosed_at TEXT NOT NULL,
    prognosis    TEXT NOT NULL,
    plan         TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    replaced_by  TEXT NOT NULL,
    replaced_at  TEXT NOT NULL
);
CREATE INDEX disease_card_revisions_card ON disease_card_revisions(card_id);

-- A screening sent from a phone carries the key of its submission: sent twice, stored once.
ALTER TABLE screenings ADD COLUMN submission_key TEXT;
