"""HTTP: the application factory, routes, wire formats and error responses."""
