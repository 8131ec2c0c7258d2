"""The local web GUI: forms generated from the config models, the star table, a job queue.

Example:
    isonet.py gui --project my_project
    # isonet2 GUI: http://127.0.0.1:8765/?token=...

The server (stdlib http.server) runs every job as an `isonet.py` subprocess in the project
folder and never imports the training code itself; see docs/gui_api.md for the API.
"""
