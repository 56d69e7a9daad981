"""The storefront search page: a server-rendered search box that calls the search API from the browser."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import search


def storefront(request: HttpRequest) -> HttpResponse:
    return render(request, "shopsearch/storefront.html", {"categories": search.categories()})
