"""API discovery: endpoints, parameters and schemas learned from traffic, and their uses."""
