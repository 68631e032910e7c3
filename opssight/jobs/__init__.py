"""Long-running jobs, started once per worker by the app's lifespan; one leader per job."""
