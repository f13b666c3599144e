"""mia_lib."""
