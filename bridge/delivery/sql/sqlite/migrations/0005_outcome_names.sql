-- One name for an attempt's outcome (bridge/lifecycle.py): the state it left its jobs in.
UPDATE attempts SET outcome = 'retrying' WHERE outcome = 'retry';
UPDATE attempts SET outcome = 'dead' WHERE outcome = 'failed';
