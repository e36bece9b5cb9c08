-- The operator's under-attack switch per tenant (`madoguchi tenant
-- under-attack T on|off`); every counter node reads it every few seconds.
ALTER TABLE tenants ADD COLUMN under_attack BIGINT NOT NULL DEFAULT 0;
