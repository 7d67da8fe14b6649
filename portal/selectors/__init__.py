"""Reads for the staff portal's pages, one module per page or concern. Amounts are
integers in hundredths of a credit."""
