"""Hooks of the Skyplane provider."""
