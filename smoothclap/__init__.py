"""SmoothCLAP's command line as a package, so that launchers can run it as a module:

    python -m smoothclap classify corpus/ --labels ... --model M --output labels.csv
    accelerate launch --multi_gpu --num_processes 8 -m smoothclap classify corpus/ ...

The commands live in smoothclap_cli (the ``smoothclap`` console script); importing this
package imports nothing heavy."""

__version__ = "0.1.0"
