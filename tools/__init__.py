"""Developer tools of gatecore (data generators, training scripts); not installed with the package."""
