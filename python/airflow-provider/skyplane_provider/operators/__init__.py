"""Operators of the Skyplane provider."""
