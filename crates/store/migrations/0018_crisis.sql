-- Crisis mode (災害モード, issue 11): a municipality switches it on in one
-- step; its home page becomes a static page with a pinned notice and one
-- form (a damage report or safety confirmation adopted from the
-- prefecture's templates) stays open, everything else paused.
ALTER TABLE tenants ADD COLUMN crisis_at BIGINT;
ALTER TABLE tenants ADD COLUMN crisis_form TEXT;
ALTER TABLE tenants ADD COLUMN crisis_notice_ja TEXT;
ALTER TABLE tenants ADD COLUMN crisis_notice_en TEXT;
