"""On PostgreSQL the database itself enforces the ledger's rules:

- entries and transactions are append-only (UPDATE and DELETE raise);
- every transaction's entries sum to zero, checked at COMMIT (a deferred constraint
  trigger, so a transaction's entries may be inserted one by one);
- account balances are maintained from entries by a trigger, and the wallet's CHECK
  constraint (migration 0001) refuses a negative balance.

On SQLite the same rules are enforced in code (members.services.ledger).
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION members_ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql;

CREATE TRIGGER members_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON members_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION members_ledger_refuse_change();
CREATE TRIGGER members_ledgertransaction_append_only
    BEFORE UPDATE OR DELETE ON members_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION members_ledger_refuse_change();

CREATE FUNCTION members_ledger_check_balanced() RETURNS trigger AS $$
DECLARE total bigint;
BEGIN
    SELECT COALESCE(SUM(amount), 0) INTO total
        FROM members_ledgerentry WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (off by % hundredths)',
            NEW.transaction_id, total USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER members_ledgerentry_balanced
    AFTER INSERT ON members_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION members_ledger_check_balanced();

CREATE FUNCTION members_ledger_apply_entry() RETURNS trigger AS $$
BEGIN
    UPDATE members_account SET balance = balance + NEW.amount WHERE id = NEW.account_id;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER members_ledgerentry_apply
    AFTER INSERT ON members_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION members_ledger_apply_entry();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS members_ledgerentry_apply ON members_ledgerentry;
DROP FUNCTION IF EXISTS members_ledger_apply_entry();
DROP TRIGGER IF EXISTS members_ledgerentry_balanced ON members_ledgerentry;
DROP FUNCTION IF EXISTS members_ledger_check_balanced();
DROP TRIGGER IF EXISTS members_ledgertransaction_append_only ON members_ledgertransaction;
DROP TRIGGER IF EXISTS members_ledgerentry_append_only ON members_ledgerentry;
DROP FUNCTION IF EXISTS members_ledger_refuse_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No parameters: the SQL's own % signs are RAISE placeholders, not the driver's.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
