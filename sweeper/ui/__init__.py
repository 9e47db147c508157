"""What a person sees: the live panel (progress.py) and the CLI's tables (tables.py)."""
