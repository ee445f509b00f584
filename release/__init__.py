"""Release, the last stage: the built items into a publishable dataset.

The split files (`splits`: leak-free eval, train and tiny), the publish stage (`stage`) writing the folder atomically
(`writer`): size-bounded Parquet shards (`shards`), the dataset card (`card`), the authors' JSON format (`authors`),
an lmms-eval task (`lmms_eval`), reference releases for media that may not be redistributed (`reference`), what
changed since the last release (`diff`), the build report (`report`, `artifacts` in the Prefect UI) and a refusal
when too little was made (`shortfall`); published text without the machine's paths (`scrub`), the Hub push (`hub`)
and the scorer (`score`). Which drafts the release needs is decided upstream, by the select stage (`selection`).
"""
