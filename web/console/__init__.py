"""The staff console: one blueprint per screen, its JSON twin under /console/api beside it."""
