"""Quality control: the deterministic, stratified review sample (`sampling`), the review app people judge items in
(`app`, `static/review.html`, verdicts kept by `store`), the verdicts applied at build and the report (`review`),
the Label Studio export, import and API round trip (`labelstudio`, `labelstudio_api`), and the release gate on the
reviewed share and pass rate (`gate`).
"""
