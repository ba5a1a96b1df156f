-- Issue 12. What each attempt sent: the outgoing HTTP request (method, URL, headers, body) as JSON,
-- secrets redacted and the body bounded before it is stored (bridge/actions/sent.py).
-- NULL for attempts that sent no recorded request and for attempts made before this migration.
ALTER TABLE attempts ADD COLUMN request TEXT;

-- An event's field for the admin's search (queries.sql: search_deliveries), NULL when the stored
-- event is not a JSON object (a row written by hand or by an older version must not fail a
-- search with a cast error).
CREATE FUNCTION bridge_event_field(event TEXT, field TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN event::jsonb ->> field;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
