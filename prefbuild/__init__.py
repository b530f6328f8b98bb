"""prefbuild: build preference datasets (prompt / chosen / rejected) and train models on them with DPOP."""

__version__ = "0.1.0"
