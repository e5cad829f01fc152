"""Report formats: each module turns a ``CheckReport`` into one format's text."""
