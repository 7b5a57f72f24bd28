from incidentd.cli import app

app(prog_name="incidentd")
