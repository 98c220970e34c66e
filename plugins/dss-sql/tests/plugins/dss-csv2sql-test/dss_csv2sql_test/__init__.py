"""The sync dss-sql's end-to-end tests install: users and group memberships from CSV files
(dss-csv) into SQL tables, with no handler code beyond the mapping."""
