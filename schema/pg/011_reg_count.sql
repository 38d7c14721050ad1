-- gikev2 GCKS database on PostgreSQL, schema version 11 (as schema/011_reg_count.sql): the number
-- of registered members is counted from registrations, the triggers that kept it go, and counters
-- allows only the names still used.
DROP TRIGGER registrations_count_ins ON registrations;
DROP TRIGGER registrations_count_del ON registrations;
DROP FUNCTION registrations_count_ins();
DROP FUNCTION registrations_count_del();
DELETE FROM counters WHERE name = 'registrations';
ALTER TABLE counters DROP CONSTRAINT counters_name_check;
ALTER TABLE counters ADD CONSTRAINT counters_name_check CHECK (name IN ('sender_id', 'rekey_msgid'));
