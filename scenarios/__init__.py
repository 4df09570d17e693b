"""Scenario and rule-set TOML files, shipped as package data and loaded by name or path."""
