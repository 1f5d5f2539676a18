-- migrations-schema: creates the schema; run under migrations-lock when migrations-state found it missing.
-- Parameters: none. Returns: nothing.
CREATE SCHEMA IF NOT EXISTS __SCHEMA__;
