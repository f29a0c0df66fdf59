from modelsync.cli import app

app(prog_name="python -m modelsync")
