"""`manage.py demo`, the whole local loop: `steps` runs each step through the services the admin, the API and
the commands use; `report` turns what the steps return into the lines the command prints."""
