"""The shared language-model core: a nanoGPT-style decoder, offline data sources and a
resumable trainer, used by every experiment that trains small language models."""
