"""Annotators: the models that read and make the evidence of the L3/L4 tasks (TR, FR, RR, RG, LD, FG, ES, PC).

One interface per kind, each with pluggable engines and results cached by content hash (`base.AnnotationCache`):
ASR (`asr`: faster-whisper, openai-whisper), OCR of captions (`ocr`: PaddleOCR), facial emotion (`emotion`: fer),
speech synthesis (`tts`: Piper), and the LLM (`llm`: the openai client against an endpoint, or a packaged model of
`local_models` on a local llama.cpp server) for rapport scores (`rapport`) and translation (`translate`).

The annotate stage (`stage`) runs the steps each source declares (`steps`, `speech`) in shards (`shards`) on the
flow's task runner; each worker process holds its engines (`registry`) on the device the config names (`devices`).
`engines` builds every engine from the config, for the build, the audit and `humansense annotate`.
"""
