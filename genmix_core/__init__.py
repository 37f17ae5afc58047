"""GenMix Workbench engine: data, prompts, mixing, editing, generation, training. Imports no Streamlit."""

__version__ = "0.1.0"
