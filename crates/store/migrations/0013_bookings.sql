-- Bookings (issue 9): the slot a submission took (`2026-12-01T09:30`), so
-- the committer can count a slot's places under the tenant's number lock
-- and never give more than its capacity, on any number of nodes. Only the
-- time is kept here; who booked it is in the sealed record.
ALTER TABLE submissions ADD COLUMN booking_slot TEXT;
CREATE INDEX submissions_booking ON submissions (tenant_id, form_id, booking_slot);
