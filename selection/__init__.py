"""The select stage: before any clip is cut, which parsed drafts the release needs and in which split (`select.py`).
It reads the drafts the sources parsed and the policy both it and the annotate stage share (`humansense.budget`);
the media stage (`humansense.clips`) cuts only what it chose."""
