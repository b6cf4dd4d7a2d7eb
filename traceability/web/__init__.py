"""The HTTP boundary: FastAPI routes, dependencies, problem responses and pages.

Routes stay thin: they check role and object through dependencies, call a service
inside one unit of work, and shape the answer. No domain rule lives here.
"""
