"""Console-script front ends of the tools (argparse, then one call of the package)."""
