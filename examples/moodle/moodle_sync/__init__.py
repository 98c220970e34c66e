"""moodle_sync: a student registry's CSV export synced into Moodle's own tables.

``sync`` holds the whole sync (models, the CSV importer, the cohorts rule,
the mapping onto ``mdl_user``, ``mdl_cohort`` and ``mdl_cohort_members``);
``plugin`` its hook; ``schema`` Moodle's table definitions, for tests and
the demo only. See README.md.
"""

__version__ = "0.1.0"
