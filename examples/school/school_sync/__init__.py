"""school_sync: the example in-house dss plugin.

A school's information system (SIS) exports CSV files every night; the
LMS's accounts, class enrolments and cohorts must follow, and a directory's
accounts and groups too when one is configured. See README.md.

Modules: ``models`` (what is compared), ``groups`` (the grouping rule),
``sis`` (the source tree), ``lms`` (the destination tree and its handler),
``directory`` (the second destination: an LDAP mapping), ``schema`` (the
LMS tables), ``plugin`` (the hook implementations), ``generate`` (demo
data; ``directory_data`` for the directory's), ``demo_directory`` (a
throwaway slapd for the demo).
"""

__version__ = "0.1.0"
