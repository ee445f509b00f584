"""Augmentation: item drafts into multiple-choice items.

Question templates per task (`templates`, `templates/templates.yaml`), options chosen and ordered with answer
balancing and length rules (`options`), the stage that makes the items (`build`, spilling large tasks to disk:
`spill`), and the bias audit (`audit`, `learned`): answerers that never see the media must stay near chance.
"""
