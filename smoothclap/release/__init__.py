"""Release: upload checked model and dataset folders to the Hugging Face Hub (`smoothclap publish`)."""
