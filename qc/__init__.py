"""Quality control: the deterministic review sample (the review app and the release gate come next)."""
