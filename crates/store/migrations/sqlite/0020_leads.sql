-- Where a recognition's lead came from (domain LeadSource: a rule's warning, a self-report,
-- a village cadre's visit, a department's screening), and the day the county's decision was
-- taken (approved, or ended at a review): the share of recognitions decided within the limit.
ALTER TABLE warnings ADD COLUMN lead TEXT NOT NULL DEFAULT 'rule';
ALTER TABLE warnings ADD COLUMN decided_on TEXT;
UPDATE warnings SET decided_on = (SELECT MIN(s.taken_on) FROM warning_steps s
    WHERE s.warning_id = warnings.id AND (s.step = 'county_approval' OR s.outcome = 'refused'));
