"""humansense-build: rebuilds the HumanSense benchmark from its public sources."""

__version__ = "0.1.0"
