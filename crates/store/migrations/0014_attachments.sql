-- Attachments (issue 9): the sealed files a submission names, as their
-- vault names (the SHA-256 of each file's manifest), space-separated. The
-- desk API hands a sealed file only to a desk of the tenant whose
-- submission names it; backup verify checks each is in the vault. What the
-- files are (their names, types, contents) is in the sealed record only.
ALTER TABLE submissions ADD COLUMN attachments TEXT;
