-- The object's notifications in the request that made its latest, as one hash of their content
-- keys in order (bridge/delivery/records.py: mark_runs); NULL when that request held one. When
-- Kontent.ai retries a request holding several notifications about one object, all of them
-- repeat this run and are redeliveries, not only the last (which the latest alone recognised).
ALTER TABLE object_latest ADD COLUMN run TEXT;
