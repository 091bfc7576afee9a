from .safetensors import read_safetensors, write_safetensors
from .run_file import RunFile, read_run_file, write_run_file
