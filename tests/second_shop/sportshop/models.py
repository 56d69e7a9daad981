"""The sports shop's own models: UUID primary keys and field names of their own (nothing like catalog's)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class Item(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    blurb = models.TextField(blank=True)
    section = models.CharField(max_length=200, help_text="Main category path, e.g. 'Men/Tops/Jackets'.")
    list_price = models.DecimalField(max_digits=8, decimal_places=2)
    units_left = models.PositiveIntegerField(default=10)
    specs = models.JSONField(default=dict, blank=True, help_text="material, climate, size, color, ... (lists allowed)")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Opinion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="opinions")
    stars = models.PositiveSmallIntegerField()
    headline = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    posted = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.stars}* on {self.item_id}: {self.headline}"
