"""mmcore package."""
