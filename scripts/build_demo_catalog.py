"""Build the demo catalogue shipped in catalog/fixtures/ from the CC0 Women's E-Commerce Clothing Reviews.

Products are the 1,206 clothing items. The data gives them no names or descriptions, so each is named honestly
from its class and id ("Dresses #1080") and described only by the facts the data has (class, department,
division); reviews are the real reviews. Run from the repository root:

    python scripts/build_demo_catalog.py ../shared/data/womens_clothing_reviews/reviews.jsonl
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"


def main(source: Path) -> None:
    reviews = [json.loads(line) for line in source.open(encoding="utf-8") if line.strip()]
    facts: dict[str, Counter] = defaultdict(Counter)
    for review in reviews:
        facts[review["product_id"]][
            (review.get("division") or "", review.get("department") or "", review.get("class") or "")
        ] += 1

    products = []
    for item_id in sorted(facts, key=lambda pid: int(pid.rsplit("-", 1)[-1])):
        division, department, class_ = facts[item_id].most_common(1)[0][0]
        number = item_id.rsplit("-", 1)[-1]
        kind = class_ or department or "Clothing item"
        where = ", ".join(
            part
            for part in (f"{department} department" if department else "", f"{division} division" if division else "")
            if part
        )
        products.append(
            {
                "id": item_id,
                "title": f"{kind} #{number}",
                "description": f"{kind} from the {where}." if where else "",
                "category": department or None,
                "attributes": {
                    key: value
                    for key, value in (("class", class_), ("department", department), ("division", division))
                    if value
                },
            }
        )

    kept = [
        {key: review[key] for key in ("id", "product_id", "title", "text", "rating", "helpful_votes") if key in review}
        for review in reviews
        if (review.get("text") or "").strip()
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, rows in (("demo_products.jsonl.gz", products), ("demo_reviews.jsonl.gz", kept)):
        with gzip.open(OUT / name, "wt", encoding="utf-8", compresslevel=9) as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"{len(products)} products, {len(kept)} reviews "
        f"(of {len(reviews)}; {len(reviews) - len(kept)} without text) -> {OUT}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/womens_clothing_reviews/reviews.jsonl"))
