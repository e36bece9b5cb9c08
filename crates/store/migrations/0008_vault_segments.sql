-- Group commit writes the records of one transaction as one vault object
-- (a segment); each submission names it. Records from before keep their
-- own object (records/<record_sha256>).
ALTER TABLE submissions ADD COLUMN vault_segment TEXT;
