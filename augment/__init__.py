"""Augmentation: question templates, option choice and order (answer balancing and length checks come next)."""
