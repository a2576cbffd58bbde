"""The export dialog and the streamed download (stories.exporting does the formats).

Kept apart from views.py because a download is an HTTP concern of its own: the body is streamed (a project with
thousands of test cases starts downloading at once and is never held whole in memory), and under ASGI (daphne) it
must be an async iterator — Django would otherwise read a sync iterator into a list before sending it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from stories import exporting
from stories.forms import ExportForm

CHUNK_BYTES = 64 * 1024  # one network write (and, under ASGI, one hop to the ORM's thread) per 64 KiB


@require_GET
def export_dialog(request: HttpRequest) -> HttpResponse:
    """Choose the format of an export of the selected stories or of a project (a dialog on htmx, else a page)."""
    data = request.GET.copy()
    data.setdefault("format", "feature")
    form = ExportForm(data, user=request.user)
    context = {"form": form, **_summary(form)}
    template = "stories/export.html#export-dialog" if request.htmx else "stories/export.html"
    return render(request, template, context)


@require_GET
def export_download(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.GET, user=request.user)
    summary = _summary(form)
    if not summary["test_cases"]:
        return render(request, "stories/export.html", {"form": form, **summary}, status=400)
    fmt = exporting.FORMATS[form.cleaned_data["format"]]
    chunks = exporting.export_chunks(
        fmt.name,
        form.cleaned_data["selection"],
        excel=form.cleaned_data["excel"],
        testrail_template=form.cleaned_data["testrail_template"],
    )
    content_type = fmt.content_type if fmt.binary else f"{fmt.content_type}; charset=utf-8"
    response = StreamingHttpResponse(_body(request, chunks), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{form.filename()}"'
    return response


def _summary(form: ExportForm) -> dict:
    """How much the selection holds, and why it exports nothing when it holds nothing."""
    if not form.is_valid():
        return {"formats": exporting.FORMATS.values(), "test_cases": 0, "stories": 0, "nothing": ""}
    selection = form.cleaned_data["selection"]
    test_cases = exporting.count_test_cases(selection)
    return {
        "formats": exporting.FORMATS.values(),
        "test_cases": test_cases,
        "stories": selection.count(),
        "nothing": "" if test_cases else exporting.nothing_to_export(selection, form.cleaned_data["stories"]),
    }


def _buffered(chunks: Iterable[str | bytes]) -> Iterator[bytes]:
    buffer, size = [], 0
    for chunk in chunks:
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        buffer.append(data)
        size += len(data)
        if size >= CHUNK_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _body(request: HttpRequest, chunks: Iterable[str | bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    blocks = _buffered(chunks)
    if not isinstance(request, ASGIRequest):
        return blocks
    return _async_blocks(blocks)


async def _async_blocks(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    done = object()
    # thread_sensitive: every block is built on the one thread that holds this request's database connection.
    next_block = sync_to_async(next, thread_sensitive=True)
    while (block := await next_block(blocks, done)) is not done:
        yield block
