"""Upload, gallery and detail pages; JSON of an image's state for pages catching up."""

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from .forms import UploadForm
from .models import Image


def gallery(request: HttpRequest) -> HttpResponse:
    """Every image, newest first, with the upload form."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            image = Image.objects.create(original=form.cleaned_data["image"], title=form.title)
            # Queued only once the row is committed, so the worker finds it.
            transaction.on_commit(image.request_thumbnails)
        return redirect(image)  # at once: the thumbnails come later
    return render(request, "thumbnailer/gallery.html", {"form": form, "images": Image.objects.all()})


def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "thumbnailer/detail.html", {"image": get_object_or_404(Image, pk=pk)})


def state(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"image": get_object_or_404(Image, pk=pk).as_message()})
