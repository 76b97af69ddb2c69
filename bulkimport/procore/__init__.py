"""The client for Procore's API and the storage POST: their typed answers, the boundary that
turns aiohttp and HTTP answers into the engine's errors, the one retry policy, the request
budget they share, and the clock they read."""
