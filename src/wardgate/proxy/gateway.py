"""The request flow: route, run the phases, forward, relay, and always log.

`Gateway.handle` is the one entry point the HTTP server calls. It takes the current plan at
accept time (a reload never changes a request midway), runs the checks phase by phase,
and records exactly one event per request in a `finally`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from wardgate.decision import Verdict
from wardgate.errors import BodyTooLarge, ClientError, MalformedRequest, UpstreamError
from wardgate.exchange import Exchange
from wardgate.observe.events import EventRecorder
from wardgate.observe.metrics import METRICS
from wardgate.phases import Phase
from wardgate.policy.compile import Plan, RoutePlan
from wardgate.providers import Problem
from wardgate.providers.events import CallArguments, with_event_text
from wardgate.proxy.headers import (
    TrustedProxies,
    downstream_headers,
    forwarding,
    upstream_headers,
)
from wardgate.proxy.http1 import Reply, Request, RequestBody, Response
from wardgate.proxy.paths import normalize_target
from wardgate.proxy.problems import GENERIC, json_reply, problem_for, problem_reply
from wardgate.proxy.sse import HoldBack, SseSplitter, parse_event
from wardgate.proxy.upstream import Body, UpstreamResponse

__all__ = ["Gateway"]

log = logging.getLogger(__name__)
HeaderList = list[tuple[str, str]]
# Bodies up to this size are read whole: cheaper than streaming, and replayable on retry.
BUFFER_SMALL_BODY = 64 * 1024
BUFFER_SMALL_RESPONSE = 256 * 1024
CLIENT_BODY_TIMEOUT = 60.0
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


class Gateway:
    """Serves requests with whatever plan is current; `install` swaps plans atomically."""

    def __init__(
        self,
        plan: Plan,
        events: EventRecorder,
        observers: Sequence[Callable[[Exchange], None]] = (),
    ) -> None:
        self.events = events
        # Log-phase readers of every finished exchange (discovery): cheap and synchronous,
        # they queue what they need and do their work off the request path.
        self.observers = tuple(observers)
        self.ready = True
        self.plan = plan
        self._trusted = TrustedProxies(plan.policy.server.trusted_proxies)

    def install(self, plan: Plan) -> None:
        self._trusted = TrustedProxies(plan.policy.server.trusted_proxies)
        self.plan = plan

    async def handle(self, request: Request, response: Response) -> None:
        if request.raw_path in HEALTH_PATHS and request.method in ("GET", "HEAD"):
            return await response.reply(self._health(request.raw_path))
        plan = self.plan
        METRICS.requests += 1
        METRICS.in_flight += 1
        ex = self._exchange(request)
        route: RoutePlan | None = None
        try:
            ex.path, ex.query_string = normalize_target(request.raw_path)
            route = plan.route_for(ex.host, ex.method, ex.path)
            if route is None:
                return await self._refuse(response, ex, problem_for(404, ex.request_id))
            ex.route = route.name
            return await self._serve(request, response, ex, route)
        except ClientError as exc:
            return await self._refuse(response, ex, _problem(exc, ex), route)
        except UpstreamError as exc:
            ex.error = exc.slug
            return await self._refuse(response, ex, _problem(exc, ex), route)
        except ConnectionError:
            # The client went away mid-answer: nothing left to tell it. The event says so.
            ex.error = ex.error or "client-disconnected"
        except asyncio.CancelledError:
            ex.error = ex.error or "client-disconnected"
            raise
        except Exception:
            log.exception("internal error serving request %s", ex.request_id)
            ex.error = "internal-error"
            return await self._refuse(response, ex, problem_for(500, ex.request_id), route)
        finally:
            METRICS.in_flight -= 1
            ex.latency_ms = ex.elapsed_ms()
            if ex.usage is not None:
                usage = ex.usage
                ex.cost_micros = plan.prices.cost_micros(
                    ex.model, usage.input_tokens, usage.output_tokens
                )
            if route is not None and route.pipeline.has(Phase.LOG):
                await route.pipeline.run(Phase.LOG, ex)
            for observe in self.observers:
                try:
                    observe(ex)
                except Exception:  # an observer never fails a request
                    log.exception("observer failed on request %s", ex.request_id)
            ex.release_payloads()
            await self.events.record(ex)

    def _exchange(self, request: Request) -> Exchange:
        headers = request.headers
        fwd = forwarding(request.remote, headers, request.scheme, self._trusted)
        host = request.host.lower()
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        path, _, query = request.raw_path.partition("?")
        ex = Exchange(
            request_id=fwd.request_id,
            method=request.method,
            path=path,
            query_string=query,
            headers=headers,
            client_ip=fwd.client_ip,
            scheme=fwd.proto,
            host=host,
        )
        ex.vault["forwarding"] = fwd
        ex.peer_cert = request.peer_cert
        return ex

    async def _serve(
        self, request: Request, response: Response, ex: Exchange, route: RoutePlan
    ) -> None:
        # Counted from the start, so a reload cannot retire the pool under this request.
        route.pool.in_flight += 1
        try:
            return await self._serve_counted(request, response, ex, route)
        finally:
            route.pool.in_flight -= 1

    async def _serve_counted(
        self, request: Request, response: Response, ex: Exchange, route: RoutePlan
    ) -> None:
        pipeline = route.pipeline
        ex.provider = route.provider
        _refuse_ambiguous_framing(request)
        if route.inspects_request_body and "content-encoding" in request.headers:
            # Checks read plain text: an encoded body would pass them uninspected.
            raise MalformedRequest("encoded request body on an inspected route")
        if (
            Phase.REQUEST_HEADERS in pipeline.active
            and (verdict := await pipeline.run(Phase.REQUEST_HEADERS, ex)).blocked
        ):
            return await self._blocked(response, ex, route, verdict)

        declared = request.content_length
        if declared is not None and declared > route.body_limit:
            raise BodyTooLarge("declared length over the route limit")
        body: Body = None
        if request.has_body and request.headers.get("expect", "").lower() == "100-continue":
            # The checks so far passed: tell the client to send its body (RFC 9110 10.1.1).
            await response.send_continue()
        if route.inspects_request_body or (declared is not None and declared <= BUFFER_SMALL_BODY):
            if request.has_body:
                body = await _read_body(request.body, route.body_limit)
                ex.body = body
                ex.bytes_in = len(body)
                if route.parses_calls:
                    _parse_call(ex, route, body)
                    body = ex.body
            if Phase.REQUEST_BODY in pipeline.active:
                verdict = await pipeline.run(Phase.REQUEST_BODY, ex)
                if verdict.blocked:
                    return await self._blocked(response, ex, route, verdict)
                body = ex.body  # a check may have rewritten it (e.g. a clamped max_tokens)
        elif request.has_body:
            body = _LimitedStream(request.body, route.body_limit, ex)

        fwd = ex.vault["forwarding"]
        headers = upstream_headers(
            request.raw_headers,
            request.headers,
            fwd,
            request.host,
            keep_content_length=isinstance(body, _LimitedStream),
        )
        if route.inspects_response:
            # Response checks read plain text: ask the upstream not to compress.
            headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
            headers.append(("Accept-Encoding", "identity"))
        try:
            target = f"{ex.path}?{ex.query_string}" if ex.query_string else ex.path
            upstream = await route.pool.send(ex.method, target, headers, body, route.timeout)
        except UpstreamError:
            if isinstance(body, _LimitedStream) and body.failure is not None:
                raise body.failure from None
            raise
        try:
            return await self._respond(response, ex, route, upstream)
        finally:
            upstream.release()

    async def _respond(
        self, response: Response, ex: Exchange, route: RoutePlan, upstream: UpstreamResponse
    ) -> None:
        pipeline = route.pipeline
        ex.upstream = upstream.target
        ex.status = upstream.status
        ex.response_headers = upstream.headers
        if (
            Phase.RESPONSE_HEADERS in pipeline.active
            and (verdict := await pipeline.run(Phase.RESPONSE_HEADERS, ex)).blocked
        ):
            upstream.abort()
            return await self._blocked(response, ex, route, verdict)
        headers = downstream_headers(upstream.headers, ex.request_id)
        content_type = upstream.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            return await self._relay_events(response, ex, route, upstream, headers)
        length = upstream.content_length
        if (
            Phase.RESPONSE_BODY in pipeline.active
            or ex.call is not None  # its usage settles limits and budgets
            or (length is not None and length <= BUFFER_SMALL_RESPONSE)
        ):
            body = await upstream.read(route.response_limit)
            ex.response_body = body
            if ex.call is not None and upstream.status < 300:
                ex.usage = route.provider.parse_response(ex.call, body).usage
            if Phase.RESPONSE_BODY in pipeline.active:
                verdict = await pipeline.run(Phase.RESPONSE_BODY, ex)
                if verdict.blocked:
                    return await self._blocked(response, ex, route, verdict)
                body = ex.response_body or b""  # a check may have rewritten it
            ex.bytes_out = len(body)
            if ex.method == "HEAD":
                # No body came, but the upstream's length is the answer's (RFC 9110 9.3.2).
                await response.start(upstream.status, headers, upstream.content_length)
                return await response.end()
            return await response.send(upstream.status, headers, body)
        return await self._relay_bytes(response, ex, upstream, headers)

    async def _relay_bytes(
        self,
        response: Response,
        ex: Exchange,
        upstream: UpstreamResponse,
        headers: HeaderList,
    ) -> None:
        await response.start(upstream.status, headers, upstream.content_length)
        try:
            async for chunk in upstream.chunks():
                ex.bytes_out += len(chunk)
                await response.write(chunk)
        except UpstreamError as exc:
            return _cut(response, ex, exc)
        await response.end()

    async def _relay_events(
        self,
        response: Response,
        ex: Exchange,
        route: RoutePlan,
        upstream: UpstreamResponse,
        headers: HeaderList,
    ) -> None:
        await response.start(upstream.status, headers, None)
        pipeline = route.pipeline
        chunk_checks = pipeline.has(Phase.RESPONSE_CHUNK)
        call = ex.call if upstream.status < 300 else None
        reader = route.provider.stream_parser(call) if call is not None else None
        strip_usage = bool(ex.vault.get("strip_usage"))
        inspect = chunk_checks or route.stream_holdback > 0 or reader is not None
        splitter = SseSplitter()
        holdback = HoldBack(route.stream_holdback)
        index = 0
        try:
            async for chunk in upstream.chunks():
                if not inspect:
                    ex.bytes_out += len(chunk)
                    await response.write(chunk)
                    continue
                for raw in splitter.feed(chunk):
                    event = parse_event(raw, index)
                    index += 1
                    # The hold-back counts answer text where the provider's events are
                    # read (a JSON event carries ~150 characters around a few words).
                    size = len(event.data)
                    if reader is not None:
                        delta = reader.feed(event.data, event.event)
                        size = len(delta.text)
                        if delta.usage is not None:
                            ex.usage = delta.usage
                        if delta.usage_only and strip_usage:
                            continue  # we asked for it; the client did not
                    holdback.hold(raw, size, delta.text if reader is not None else None)
                    if chunk_checks:
                        verdict = await pipeline.run(Phase.RESPONSE_CHUNK, ex, event)
                        if verdict.blocked or not _rewrite_held(holdback, verdict):
                            upstream.abort()
                            return await _end_stream(response, route, ex, verdict)
                    for released in holdback.release():
                        ex.bytes_out += len(released)
                        await response.write(released)
        except UpstreamError as exc:
            return _cut(response, ex, exc)
        tail = splitter.rest()
        if inspect and tail.strip():
            # An unterminated last event is still an event: check it like the others.
            last = parse_event(tail, index)
            if reader is not None and (delta := reader.feed(last.data, last.event)).usage:
                ex.usage = delta.usage
            if chunk_checks:
                verdict = await pipeline.run(Phase.RESPONSE_CHUNK, ex, last)
                if verdict.blocked:
                    return await _end_stream(response, route, ex, verdict)
        for released in [*holdback.drain(), tail]:
            if released:
                ex.bytes_out += len(released)
                await response.write(released)
        await response.end()

    async def _blocked(
        self, response: Response, ex: Exchange, route: RoutePlan, verdict: Verdict
    ) -> None:
        problem = problem_for(verdict.status or 403, ex.request_id)
        headers = verdict.headers
        if problem.status == 401 and not any(k == "WWW-Authenticate" for k, _ in headers):
            # RFC 9110 15.5.2: a 401 names the scheme that would work.
            headers = (*headers, ("WWW-Authenticate", 'Bearer realm="wardgate"'))
        return await self._refuse(response, ex, problem, route, headers)

    async def _refuse(
        self,
        response: Response,
        ex: Exchange,
        problem: Problem,
        route: RoutePlan | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        ex.status = problem.status
        reply = problem_reply(problem, route.provider if route else GENERIC, list(headers))
        if problem.status in (400, 413):
            # The rest of the body may still be on the wire: never read it as a new request.
            response.close_after()
        ex.bytes_out = len(reply.body)
        await response.reply(reply)

    def _health(self, path: str) -> Reply:
        if path == "/readyz" and not self.ready:
            return json_reply(503, {"status": "draining"})
        return json_reply(200, {"status": "ok"})


def _rewrite_held(holdback: HoldBack, verdict: Verdict) -> bool:
    """Apply a check's edits of the streamed answer (`stream` slot) to the held events;
    False when one cannot be made (part of it already left): the stream must end instead.
    `stream.arguments` edits replace a tool call's streamed arguments (`start` the answer,
    `end` the call index) where they are still held; a fragment already sent keeps what it
    said (the edits restore placeholders: nothing unsafe is left out)."""
    for edit in verdict.edits:
        if edit.slot == "stream.arguments":
            holdback.rewrite_events(CallArguments(edit.start, edit.end, edit.replacement))
    return all(
        holdback.rewrite(edit.start, edit.end, edit.replacement, with_event_text)
        for edit in verdict.edits
        if edit.slot == "stream"
    )


async def _end_stream(response: Response, route: RoutePlan, ex: Exchange, verdict: Verdict) -> None:
    """Headers are sent: a block ends the stream with the provider's own error event."""
    problem = problem_for(verdict.status or 403, ex.request_id)
    await response.write(route.provider.error_event(problem))
    await response.end()


def _parse_call(ex: Exchange, route: RoutePlan, body: bytes) -> None:
    """The provider-neutral view of an AI call; asks for streamed usage when metering."""
    try:
        call = route.provider.parse_request(ex.path, body)
    except MalformedRequest:
        raise
    except Exception:
        # An adapter bug must not become a 500 a client can trigger at will.
        log.warning("adapter %s failed on request %s", route.provider.name, ex.request_id)
        raise MalformedRequest("unparsable AI call") from None
    if call is None:
        return
    ex.call = call
    ex.model = call.model
    if call.stream and not call.stream_usage:
        rewritten = route.provider.with_stream_usage(call, body)
        if rewritten is not None:
            ex.body = rewritten
            ex.vault["strip_usage"] = True


def _problem(exc: ClientError | UpstreamError, ex: Exchange) -> Problem:
    return Problem(exc.status, exc.slug, exc.title, ex.request_id)


def _refuse_ambiguous_framing(request: Request) -> None:
    """Framing the parser tolerates but a proxy must not pass on (request smuggling), and a
    Host that is missing or given twice (RFC 9112 3.2)."""
    hosts = request.headers.getall("host", ())
    if len(hosts) > 1 or (not hosts and request.version != "1.0"):
        raise MalformedRequest("missing or repeated Host")
    te = request.headers.get("transfer-encoding")
    if te is None:
        return
    if request.version == "1.0":
        raise MalformedRequest("transfer-encoding on HTTP/1.0")
    codings = [c.strip().lower() for c in te.split(",")]
    if codings != ["chunked"] or len(request.headers.getall("transfer-encoding")) > 1:
        raise MalformedRequest("unsupported transfer-encoding")


async def _read_body(content: RequestBody, limit: int) -> bytes:
    if content.complete:
        # The whole body came with the headers (the common case for API calls): no waiting,
        # so no timer is needed.
        body = content.read_nowait()
        if len(body) > limit:
            raise BodyTooLarge("body over the route limit")
        return body
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(CLIENT_BODY_TIMEOUT):
            while chunk := await content.read():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge("body over the route limit")
                chunks.append(chunk)
    except TimeoutError:
        raise MalformedRequest("client body timeout") from None
    return b"".join(chunks)


class _LimitedStream:
    """A request body streamed upstream, cut off at the route limit.

    The client library wraps whatever the body iterator raises, so the reason is kept in
    `failure` for the gateway to answer with (413 or 400) instead of a 502.
    """

    def __init__(self, content: RequestBody, limit: int, ex: Exchange) -> None:
        self._content = content
        self._limit = limit
        self._ex = ex
        self.failure: ClientError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        try:
            while chunk := await self._content.read():
                size += len(chunk)
                if size > self._limit:
                    self.failure = BodyTooLarge("body over the route limit")
                    raise self.failure
                self._ex.bytes_in = size
                yield chunk
        except MalformedRequest as exc:
            self.failure = exc
            raise


def _cut(response: Response, ex: Exchange, exc: UpstreamError) -> None:
    """Headers are already sent: the only honest signal left is to end the connection."""
    ex.error = exc.slug
    response.abort()
