"""Find the aspects the shop's reviews talk about that no configured aspect covers, and store them."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from shopsearch import review_insights
from shopsearch.exceptions import ShopsearchError
from shopsearch.spaces import require_active_space


class Command(BaseCommand):
    help = (
        "Discover review aspects (frequent named things such as 'waist', 'sleeves') not covered by SENTIMENT_ASPECTS."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="last line: the discovered aspects as JSON")

    def handle(self, *args, **options) -> None:
        try:
            space = require_active_space()
        except ShopsearchError as exc:
            raise CommandError(str(exc)) from exc
        found = review_insights.discover_aspects(space)
        for aspect in found:
            self.stdout.write(
                f"{aspect.name:<16} {aspect.sentences:>6} sentences  {aspect.products:>5} products  "
                f"forms: {', '.join(aspect.forms)}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(found)} discovered aspects stored for space #{space.pk}"))
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "space": space.pk,
                        "aspects": [
                            {"name": a.name, "sentences": a.sentences, "products": a.products, "forms": a.forms}
                            for a in found
                        ],
                    }
                )
            )
