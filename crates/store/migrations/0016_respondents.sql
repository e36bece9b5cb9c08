-- Verified surveys (issue 11): the respondent of a survey that requires
-- proof of who answers, as a keyed per-form pseudonym (HMAC under a key
-- that is not in the database; seal::Pseudonyms). The same person in the
-- same survey always has the same pseudonym, so a second answer is
-- refused; who they are is nowhere on the counter.
ALTER TABLE submissions ADD COLUMN respondent TEXT;
CREATE UNIQUE INDEX submissions_one_answer_each ON submissions (tenant_id, form_id, respondent);
