"""`python -m dataset_scripts ...` in a clone: the builders are smoothclap.data (`smoothclap build`, `python -m smoothclap.data`)."""
