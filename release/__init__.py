"""Release: write the items and their media into the release folder (splits, card and hub come next)."""
