-- What each attempt sent: the outgoing HTTP request (method, URL, headers, body) as JSON,
-- secrets redacted and the body bounded before it is stored (bridge/actions/sent.py).
-- NULL for attempts that sent no recorded request and for attempts made before this migration.
ALTER TABLE attempts ADD COLUMN request TEXT;
