"""rewild: reproduce WildChat-50M (Feuer & Hegde, ICML 2025) as a Snakemake workflow."""

__version__ = "0.1.0"
