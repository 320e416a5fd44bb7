"""python -m dataset_scripts ... == python -m smoothclap.data ... (a clone's old name)."""
import runpy

runpy.run_module("smoothclap.data", run_name="__main__", alter_sys=True)
