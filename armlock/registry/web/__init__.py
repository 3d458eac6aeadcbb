"""The armourer's dashboard: FastAPI, server-rendered pages, no front-end build chain."""
