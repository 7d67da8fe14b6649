"""What `python3 run.py` does, in modules of the standard library only: it runs on a
fresh machine before any dependency is installed (run.py is the entry point)."""
