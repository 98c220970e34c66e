"""school_sync: the example in-house dss plugin.

A school's information system (SIS) exports CSV files every night; the
LMS's accounts, class enrolments and cohorts must follow. See README.md.

Modules: ``models`` (what is compared), ``groups`` (the grouping rule),
``sis`` (the source tree), ``lms`` (the destination tree and its handler),
``schema`` (the LMS tables), ``plugin`` (the hook implementations),
``generate`` (demo data).
"""

__version__ = "0.1.0"
