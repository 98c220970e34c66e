"""The sync dss-ldap's end-to-end tests install: users and group memberships from CSV files
(dss-csv) into a directory, with no handler code beyond the mapping."""
