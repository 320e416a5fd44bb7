"""The web demo, in the shape of a Hugging Face Space: ``space/app.py`` (``smoothclap app``).
A wheel installs this folder as the package ``smoothclap.app``."""
