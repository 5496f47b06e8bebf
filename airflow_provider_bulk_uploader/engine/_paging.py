"""A paginated run: each start URL becomes a stream of pages, every page one request through the same
steps as an unpaginated URL (:mod:`._attempts` for the limiter, cool-down and retries; :mod:`._batching`
for the store).

Workers share one queue of page jobs. A worker takes the next page of a stream already under way before it
starts a new stream (so streams finish and memory stays flat), and a new stream before it waits. Link and
cursor pages are sequential by nature (a page's response names the next one); offset and page-number pages
are fanned out as soon as the first page gives the total: the remaining page URLs are generated lazily and
taken by whichever workers are free, bounded by the run's concurrency and rate limit.

Resuming (what a checkpointing store needs, nothing else pays for it): with a
:class:`~.interfaces.ResumableStore` and a :class:`~.interfaces.StartURL`, every page body goes to the store
with a :class:`~.interfaces.PageSource` (the stream's unit, the page's position, what follows it), and a start
URL with ``resume_pages`` continues its stream at those pages instead of the first one. A page body reaches
the store before any page queued after it is taken, so a stream's stored pages are always whole responses and,
for link and cursor styles, a prefix of the stream.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from ._attempts import Attempts
from ._batching import Batcher
from ._types import FAILED, PageFetch, SendFetch
from .interfaces import PageSource, StartURL
from .pagination import Broken, FanOut, NextBody, NextPage, Page, PageContext, Paginator, Stop
from .paths import records_at, with_value_at
from .redaction import redact, redact_url
from .report import FetchReport, StreamReport
from .requests import Request
from .urls import without_params

__all__ = ["PageSource", "PagedRun"]


class _Stream:
    """One start URL's pages: the per-stream report, the paginator's memo and the URLs already requested
    (as hashes: loop detection without keeping every URL)."""

    __slots__ = ("memo", "report", "request", "seen", "start")

    def __init__(self, start: str, report: StreamReport, request: Request | None = None) -> None:
        self.start = start
        self.report = report
        self.memo: dict[str, Any] = {}
        self.seen: set[int] = set()
        #: a stream of :class:`~.requests.Request` pages: the start request (method, body, headers) its URL
        #: pages are sent with (``None``: GET of each URL)
        self.request = request


class _FanOut:
    """The remaining pages of one stream, handed out one URL at a time (``left``: how many)."""

    __slots__ = ("left", "numbers", "stream", "urls")

    def __init__(self, stream: _Stream, urls: Iterator[str], first_number: int, count: int) -> None:
        self.stream = stream
        self.urls = urls
        self.numbers = itertools.count(first_number)
        self.left = count


#: A page job: (stream, url, position in the stream, whether the paginator decides what follows it). The url
#: is a :class:`~.requests.Request` for a page whose body differs from the stream's start request.
_Job = tuple[_Stream, "str | Request", int, bool]


class PagedRun:
    """The page scheduler of one run with a paginator.

    :param credential_params: names of the query parameters that carry credentials: never taken over from
        a server's next link.
    """

    def __init__(
        self,
        report: FetchReport,
        attempts: Attempts,
        batcher: Batcher,
        paginator: Paginator,
        record_path: str | None,
        credential_params: Mapping[str, str] | frozenset[str] = frozenset(),
        *,
        method: str = "GET",
        retry_non_idempotent: bool = False,
    ) -> None:
        self.report = report
        self.attempts = attempts
        self.batcher = batcher
        self.paginator = paginator
        self.record_path = record_path
        self.queue: deque[_Job | _FanOut] = deque()
        self.busy = 0
        #: parked workers (nothing to take while pages are in flight), woken one per page made available
        self.idle: deque[asyncio.Future[None]] = deque()
        self._wake_scheduled = False
        self.credential_params = frozenset(credential_params)
        report.paginated = True
        #: the paginator's scratch space shared by every stream of this run (``auto`` logs once per run)
        self.shared: dict[str, Any] = {}
        #: whether page bodies go to the store with a :class:`PageSource` (a resumable store)
        self.recording = batcher.sources is not None
        #: URL strings start a stream of requests with this method (``"GET"``: plain GETs)
        self.method = method
        self.retry_non_idempotent = retry_non_idempotent

    async def worker(self, urls: Iterator[Any], fetch: PageFetch, send: SendFetch | None = None) -> None:
        """Take pages until none is left anywhere. A worker with nothing to take while pages are in flight
        parks (no polling) until a page it could take is queued; :meth:`_take` never awaits, so the queue
        needs no lock on one event loop."""
        idle = self.idle
        while True:
            job = self._take(urls)
            if job is None:
                if self.busy == 0:  # nothing queued, nothing in flight: every parked worker ends too
                    self._wake(len(idle))
                    return
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                idle.append(waiter)
                await waiter
                continue
            self.busy += 1
            try:
                await self._page(job, fetch, send)
            finally:
                self.busy -= 1

    def _wake(self, n: int) -> None:
        """Wake up to ``n`` parked workers."""
        idle = self.idle
        while n > 0 and idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                n -= 1

    def _wake_for_queued(self, records: int) -> None:
        """After pages were queued by a worker that is about to hand its page of ``records`` to the store:
        wake a parked worker for every queued page but the one this worker takes itself when it returns —
        and, if the hand-over may suspend (an async store about to get a batch), check again at the loop's
        next turn, so a page is not left waiting while the store writes."""
        queue = self.queue
        if not self.idle or not queue:
            return
        if len(queue) > 1 or isinstance(queue[0], _FanOut):  # (one next page: this worker's own)
            self._wake(self._pending() - 1)
        if self.idle and not self._wake_scheduled and self.batcher.may_suspend(records):
            self._wake_scheduled = True
            asyncio.get_running_loop().call_soon(self._wake_pending)

    def _pending(self) -> int:
        return sum(job.left if isinstance(job, _FanOut) else 1 for job in self.queue)

    def _wake_pending(self) -> None:
        self._wake_scheduled = False
        self._wake(self._pending())

    def _take(self, urls: Iterator[Any]) -> _Job | None:
        """The next page to fetch: a continuing stream's first, else a new stream's first page, else None."""
        queue = self.queue
        while queue:
            head = queue[0]
            if isinstance(head, _FanOut):
                url = next(head.urls, None)
                if url is None:
                    queue.popleft()
                    continue
                head.left -= 1
                return (head.stream, url, next(head.numbers), False)
            job = queue.popleft()
            assert not isinstance(job, _FanOut)
            return job
        report, attempts = self.report, self.attempts
        for url in urls:  # one shared iterator: each start URL is taken by exactly one worker
            request: Request | None = None
            if isinstance(url, Request):  # a stream of requests: the stream's start is its URL (and unit)
                request = url
                url = request.url if request.unit is None else StartURL(url.url, url.unit, url.resume_pages)
            elif not isinstance(url, str):
                url = str(url)
            elif self.method != "GET":
                request = Request(url, self.method) if url.startswith(("http://", "https://")) else None
            if not url.startswith(("http://", "https://")):
                report.requested += 1
                attempts.fail(url, None, "not an absolute http(s) URL", 0)
                continue
            stream = _Stream(url, StreamReport(url=redact_url(url), style=self.paginator.type), request)
            report.streams.append(stream.report)
            resume = url.resume_pages if isinstance(url, StartURL) else ()
            if resume:  # a stream stored in part by an earlier run: continue at its next pages
                jobs = [self._resume_job(stream, page) for page in resume]
                stream.seen.update(hash(job[1]) for job in jobs if job[3] and isinstance(job[1], str))
                queue.extend(jobs[1:])
                return jobs[0]
            first = self._clean(self.paginator.first_url(url))
            stream.seen.add(hash(first))
            return (stream, first, 1, True)
        return None

    async def _page(self, job: _Job, fetch: PageFetch, send: SendFetch | None = None) -> None:
        stream, url, number, decides = job
        report, attempts = self.report, self.attempts
        report.requested += 1
        start = stream.start
        request = url if isinstance(url, Request) else None
        if request is None and stream.request is not None:
            request = stream.request.with_url(url)  # type: ignore[arg-type]
        if request is not None and send is not None:
            url = request.url
            result = await attempts.fetch(
                url,
                lambda u: send(request, start),
                stream=start,
                method=request.method,
                resend=request.idempotent or self.retry_non_idempotent,
            )
        else:
            assert isinstance(url, str)
            result = await attempts.fetch(url, lambda u: fetch(u, start), stream=start)
        if result is FAILED:
            self._incomplete(stream, "page failed")
            return
        body, headers = result
        if self.record_path is None:
            records = 1
        else:
            try:
                records = len(records_at(body, self.record_path))
            except ValueError as exc:
                attempts.fail(url, None, f"{exc}; the page was not stored", 1, stream=start)
                self._incomplete(stream, "records not found")
                return
        report.succeeded += 1
        stream.report.pages += 1
        stream.report.records += records
        unit = start.unit if self.recording and isinstance(start, StartURL) else None
        queued, after = False, None
        if decides:
            queued, after = self._follow(
                stream,
                PageContext(
                    start,
                    Page(url, body, headers),
                    number,
                    records,
                    stream.memo,
                    counted=self.record_path is not None,
                    run=self.shared,
                ),
                unit is not None,
                request,
            )
        if queued:
            self._wake_for_queued(records)
        # the body is queued for the store (synchronously, first thing in add) before a page queued after
        # it can be taken: the store sees a stream's pages in order
        await self.batcher.add_page(body, records, None if unit is None else PageSource(unit, number, after))

    def _follow(
        self, stream: _Stream, ctx: PageContext, recording: bool = False, request: Request | None = None
    ) -> tuple[bool, Any]:
        """Queue what comes after the page in ``ctx`` (or end the stream): whether pages were queued, and
        what follows the page as :attr:`PageSource.after` (a fan-out is described only when ``recording``).
        ``request``: the page's request when it was not a plain GET (a :class:`NextBody` step needs it)."""
        paginator = self.paginator
        try:
            step = paginator.next_step(ctx)
        except Exception as exc:  # a user paginator: its error ends the stream, reported, not the run
            step = Broken(f"{type(paginator).__name__}.next_step raised {type(exc).__name__}: {exc}")
        chosen = ctx.memo.get("auto")
        if isinstance(chosen, Paginator):
            stream.report.style = f"auto:{chosen.type}"
        limit = paginator.max_pages
        if isinstance(step, NextPage):
            if limit is not None and ctx.number >= limit:
                self._stop(stream, "max_pages")
                return False, "end"
            url = self._clean(step.url)
            key = hash(url)
            if key in stream.seen:
                self._loop(stream, url)
                return False, None
            stream.seen.add(key)
            self.queue.append((stream, url, ctx.number + 1, True))
            return True, {"next": url}
        elif isinstance(step, FanOut):
            count, reason, urls, pattern = step.count, step.reason, step.urls, step.pattern
            if limit is not None and ctx.number + count > limit:
                count, reason = max(0, limit - ctx.number), "max_pages"
                urls = itertools.islice(urls, count)
                pattern = None if pattern is None else (pattern[0], pattern[1], pattern[2][:count])
            stream.report.stop = reason
            if not count:
                return False, "end"
            cleaned: Iterator[str] = (self._clean(u) for u in urls)
            after: Any = None
            if recording:  # what a resumed run needs to fetch only the pages not stored
                if pattern is not None:
                    values = pattern[2]
                    spec: Any = {
                        "base": self._clean(pattern[0]),
                        "param": pattern[1],
                        "values": [values.start, values.stop, values.step],
                    }
                else:
                    listed = list(itertools.islice(cleaned, count))
                    cleaned, spec = iter(listed), listed
                after = {"fanout": spec, "first": ctx.number + 1, "count": count}
            self.queue.append(_FanOut(stream, cleaned, ctx.number + 1, count))
            return True, after
        elif isinstance(step, NextBody):
            return self._next_body(stream, ctx, step, request)
        elif isinstance(step, Stop):
            self._stop(stream, step.reason)
            return False, "end"
        else:
            self.report.requested += 1  # the rest of the stream, which cannot be fetched
            self.attempts.fail(ctx.page.url, None, redact(step.error), 0, stream=stream.start)
            self._incomplete(stream, step.stop)
        return False, None

    def _resume_job(self, stream: _Stream, page: Any) -> _Job:
        """The job of a stored stream's next page (its body values re-applied for a cursor in the body)."""
        url, number, decides, *rest = page
        clean = self._clean(url)
        patch = rest[0] if rest else None
        if not patch or stream.request is None:
            return (stream, clean, int(number), bool(decides))
        body = stream.request.json
        for path, value in patch.items():
            body = with_value_at(body, path, value)
        return (stream, stream.request.with_url(clean).with_json(body), int(number), bool(decides))

    def _next_body(
        self, stream: _Stream, ctx: PageContext, step: NextBody, request: Request | None
    ) -> tuple[bool, Any]:
        """Queue the page's request again with ``step.value`` at ``step.path`` of its JSON body."""
        limit = self.paginator.max_pages
        if limit is not None and ctx.number >= limit:
            self._stop(stream, "max_pages")
            return False, "end"
        if request is None:
            self.report.requested += 1
            self.attempts.fail(
                ctx.page.url,
                None,
                f"pagination: a cursor in the body ({step.path!r}) needs a request with a JSON body "
                "(method POST and json=...), not a GET of a URL",
                0,
                stream=stream.start,
            )
            self._incomplete(stream, "broken")
            return False, None
        try:
            following = request.with_json(with_value_at(request.json, step.path, step.value))
        except ValueError as exc:
            self.report.requested += 1
            self.attempts.fail(ctx.page.url, None, str(exc), 0, stream=stream.start)
            self._incomplete(stream, "broken")
            return False, None
        key = hash((following.url, repr(step.value)))
        if key in stream.seen:
            self._loop(stream, following.url)
            return False, None
        stream.seen.add(key)
        self.queue.append((stream, following, ctx.number + 1, True))
        return True, {"next": following.url, "body": {step.path: step.value}}

    def _loop(self, stream: _Stream, url: str) -> None:
        self.report.requested += 1
        self.attempts.fail(
            url,
            None,
            f"pagination loop: the next page {redact_url(url)} was already requested in this stream",
            0,
            stream=stream.start,
        )
        self._incomplete(stream, "loop")

    @staticmethod
    def _stop(stream: _Stream, reason: str) -> None:
        if not stream.report.stop:
            stream.report.stop = reason

    @staticmethod
    def _incomplete(stream: _Stream, reason: str) -> None:
        stream.report.complete = False
        if stream.report.stop in ("", "total reached", "maximum_offset reached", "maximum_page reached"):
            stream.report.stop = reason

    def _clean(self, url: str) -> str:
        """``url`` without credential query parameters a server echoed into its next link: the transport adds
        them back for the start URL's origin, and they must never go to another one."""
        return without_params(url, self.credential_params)
