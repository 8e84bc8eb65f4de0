"""The facts files (``data/facts/*.yml``) in and out: ``loader`` validates and loads them, ``writer``
writes the database back in their layout."""
