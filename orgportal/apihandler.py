"""The REST API's request cycle, all of it in one worker thread.

Django's ASGI handler adapts every synchronous piece of a request for the event loop:
the request_started receivers, each sync-only middleware and the code around it, the
view, closing the response. Each adaptation crosses between the event loop and a
thread started for that request: 17 crossings for one API request. The API needs only
middleware that runs synchronously (settings.API_MIDDLEWARE), so here the body is read
on the event loop, everything from request_started to request_finished runs in one
call to a pooled worker thread, and the answer is sent from the event loop: one
crossing.

The API's views answer with whole bodies: the response is closed (request_finished
gives the thread's database connection back) before it is sent.
"""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

# The Organization API mirror and its extensions.
PREFIX = "/api/organization/"


class ApiHandler(ASGIHandler):
    """An ASGI application for HTTP requests under PREFIX."""

    def __init__(self) -> None:
        # Not ASGIHandler's own: it loads settings.MIDDLEWARE for the event loop.
        self._load_api_middleware()
        # Each request holds one database connection from its first query to its end,
        # so more threads than the pool has connections would only wait for one.
        executor = ThreadPoolExecutor(
            max_workers=settings.DATABASE_POOL_MAX, thread_name_prefix="api"
        )
        self._respond_in_thread = sync_to_async(
            self._respond, thread_sensitive=False, executor=executor
        )

    def _load_api_middleware(self) -> None:
        """BaseHandler.load_middleware for settings.API_MIDDLEWARE, synchronous."""
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.API_MIDDLEWARE):
            factory = import_string(path)
            if not getattr(factory, "sync_capable", True):
                raise ImproperlyConfigured(f"API_MIDDLEWARE: {path} cannot run sync")
            middleware = factory(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(
                    middleware.process_template_response
                )
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    async def __call__(self, scope, receive, send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await self._respond_in_thread(scope, body_file)
        finally:
            body_file.close()
        await self.send_response(response, send)

    def _respond(self, scope, body_file):
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__  # request_finished's sender
        response.close()
        return response
