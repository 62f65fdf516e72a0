"""Cellsync's own tables in the user's database: their definitions and their migrations."""
