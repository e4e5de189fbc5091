-- Desired state as code: what a changelog entry needs to be reverted, and which import or
-- revert made it.

-- The vhost's fields (JSON) after the change; for a delete, before it.
ALTER TABLE changelog ADD COLUMN state TEXT;
-- The import (POST /api/import) the change was part of.
ALTER TABLE changelog ADD COLUMN import_id TEXT;
-- The entry this change reverted.
ALTER TABLE changelog ADD COLUMN revert_of BIGINT;
