"""API discovery: endpoints, parameters and schemas learned from traffic, and what to do with them."""
