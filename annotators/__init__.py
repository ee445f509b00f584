"""Annotators (OCR, ASR, facial emotion, LLM, speech synthesis): not built yet.

The seven label-based tasks need none. The L3/L4 tasks that do (TR, FR, RR, RG, LD, FG, ES, PC) are made by the
annotator and annotated-task issues; until then their sources are absent from the build and the summary says so.
"""
